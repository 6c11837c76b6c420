"""The campaign folder as one validated object: schedule, article, plan, safety content, templates.

`load_project` gathers the problems of every input before giving up, so `campaign validate` can print
them all at once. Everything here is pure given the files: same inputs, byte-identical output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from campaign.config import Settings
from campaign.errors import InvalidInput, Problem, SafetyLintError
from campaign.series.content import Article, load_article, load_disclaimer, markdown_to_html, markdown_to_text
from campaign.series.frozen import FrozenDay, plan_with_frozen
from campaign.series.lint import LintHit, lint_text
from campaign.series.numbers import unverified_numbers, verified_digits
from campaign.series.parts import field_of, is_part_key, label, part_number
from campaign.series.plan import Plan, make_plan
from campaign.series.render import IssueContent, RenderedIssue, Renderer
from campaign.series.safety import CrisisResources, load_crisis_resources
from campaign.series.schedule import LoadedSchedule, load_schedule, parse_schedule


@dataclass(frozen=True)
class DayLint:
    day: date
    field: str
    hit: LintHit
    acknowledged: str | None = None  # the organiser's reason, when acknowledged in schedule.yaml

    def __str__(self) -> str:
        ack = f" [acknowledged: {self.acknowledged}]" if self.acknowledged else ""
        return (
            f"{label(self.day)} {self.field}: {self.hit.rule} {self.hit.level}: {self.hit.message} "
            f"(“{self.hit.excerpt}”) — {self.hit.advice}{ack}"
        )


@dataclass
class Project:
    settings: Settings
    loaded: LoadedSchedule
    article: Article
    disclaimer: str
    crisis: CrisisResources
    plan: Plan
    frozen: Mapping[date, FrozenDay] = field(default_factory=dict)  # days whose send has started, as recorded
    plan_warnings: tuple[Problem, ...] = ()  # edits to text already sent, pins ignored (series/frozen.py)
    _rendered: dict = field(default_factory=dict, repr=False)
    _linted: dict = field(default_factory=dict, repr=False)  # day -> its findings: each day is linted once

    @property
    def schedule(self):
        return self.loaded.schedule

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(
            self.settings.templates_dir,
            campaign=self.schedule.campaign,
            article_title=self.article.title,
            disclaimer=self.disclaimer,
            public_url=self.settings.public_url,
            crisis_block=self.crisis.block,
            crisis_urls=self.crisis.urls(),
        )

    def content_for(self, day: date) -> IssueContent:
        part = self.plan.part_for(day)
        entry = self.frozen.get(day) or self.schedule.days[day]  # a started day keeps its recorded words
        return IssueContent(
            day=day,
            number=part.number,
            total=part.total,
            subject=entry.subject,
            preheader=entry.preheader,
            note=entry.note,
            part_html=markdown_to_html(part.source),
            part_text=markdown_to_text(part.source),
            continued=part.continued,
        )

    def with_frozen(self, frozen: Mapping[date, FrozenDay]) -> Project:
        """The same inputs, planned around the days already started (no file is read again: a scheduler keeps
        its last good inputs even while the files on disk hold an invalid edit). When the plan comes out the
        same, the issues already rendered are kept."""
        fixed = plan_with_frozen(self.loaded, self.article, frozen)
        rendered, linted = {}, {}
        if fixed.plan == self.plan:  # a newly frozen day may print its recorded subject: render that one again
            rendered = {k: v for k, v in self._rendered.items() if k[0] not in frozen or k[0] in self.frozen}
            linted = self._linted  # the same parts and entries: the same findings
        return Project(
            self.settings,
            self.loaded,
            self.article,
            self.disclaimer,
            self.crisis,
            fixed.plan,
            fixed.frozen,
            fixed.warnings,
            rendered,
            linted,
        )

    def variant_for(self, country: str | None) -> str:
        return self.crisis.variant_for(country, self.schedule.campaign.default_country)

    @property
    def default_variant(self) -> str:
        return self.variant_for(None)

    def render(self, day: date, variant: str | None = None, *, web: bool = False) -> RenderedIssue:
        """Rendered once per (day, variant, web) for the life of this object."""
        key = (day, variant or self.default_variant, web)
        if key not in self._rendered:
            self.check_safe_messaging([day])
            self._rendered[key] = self.renderer.render(self.content_for(day), key[1], web=web)
        return self._rendered[key]

    @cached_property
    def verified_numbers(self) -> frozenset[str]:
        """Every number content/crisis_resources.yaml lists: the only numbers subscriber text may carry."""
        strings: list[str | None] = [self.crisis.international.emergency]
        services = list(self.crisis.international.services)
        for country in self.crisis.countries.values():
            strings.append(country.emergency)
            services += country.services
        for s in services:
            strings += [s.how, s.phone, s.sms]
        return verified_digits(strings)

    def unverified_numbers(self, text: str) -> list[str]:
        """N1 messages for the numbers in a template's literal text that the verified list lacks."""
        return [
            f"N1 (error) {hit.message} (“{hit.excerpt}”)"
            for hit in unverified_numbers(text, self.verified_numbers, markup=True)
        ]

    def check_templates(self) -> None:
        """Raise RenderError listing every static problem in the email templates (sandbox, cycles, numbers)."""
        from campaign.errors import RenderError

        problems = self.renderer.check_templates(self.unverified_numbers)
        if problems:
            raise RenderError(problems)

    # -- safe-messaging lint ------------------------------------------------------------------------
    def lint(self, days: list[date] | None = None) -> list[DayLint]:
        """The findings of `days` (default: every day not started), each day linted once per Project."""
        out: list[DayLint] = []
        for day in days or self.schedule.dates:
            if day in self.frozen:
                continue  # already went out: nothing to decide about it any more
            if day not in self._linted:
                self._linted[day] = self._lint_day(day)
            out += self._linted[day]
        return out

    def _lint_day(self, day: date) -> list[DayLint]:
        acks: dict[str, list] = {}
        for ack in self.schedule.acknowledgements:
            if ack.key == day:
                acks.setdefault(ack.rule, []).append(ack)
        entry = self.schedule.days[day]
        pieces = [("subject", "subject", entry.subject), ("preheader", "preheader", entry.preheader)]
        if entry.note:
            pieces.append(("note", "note", entry.note))
        for block in self.plan.part_for(day).blocks:
            pieces.append((f"article line {block.line}", "article", block.text))
        out = []
        for where, kind, text in pieces:
            for hit in lint_text(text, field=kind) + unverified_numbers(text, self.verified_numbers):  # type: ignore[arg-type]
                matching = (a for a in acks.get(hit.rule, []) if not a.excerpt or a.excerpt.lower() in text.lower())
                out.append(DayLint(day, where, hit, next((a.reason for a in matching), None)))
        return out

    def check_safe_messaging(self, days: list[date] | None = None) -> list[DayLint]:
        """Raise on unacknowledged errors; return everything else (warnings, acknowledged errors) to print."""
        findings = self.lint(days)
        blocking = [f for f in findings if f.hit.level == "error" and not f.acknowledged]
        if blocking:
            raise SafetyLintError(
                [
                    Problem(
                        "schedule.yaml" if f.field in ("subject", "preheader", "note") else "content/article.md",
                        (self.loaded.lines.get(("days", str(f.day), f.field)) or self.loaded.line_of_day(f.day))
                        if f.field in ("subject", "preheader", "note")
                        else int(f.field.rsplit(" ", 1)[1]),
                        f"{field_of(f.day)}.{f.field.split()[0]}",
                        f"{f.hit.rule} ({f.hit.level}) {f.hit.message}: “{f.hit.excerpt}”",
                        f.hit.advice
                        if f.hit.rule == "N1"
                        else f"{f.hit.advice}; or, after review, acknowledge it in schedule.yaml under "
                        f"acknowledgements: (rule: {f.hit.rule}, {_ack_key(f.day)}, reason: …)",
                    )
                    for f in blocking
                ]
            )
        return findings


def load_project(
    settings: Settings,
    frozen: Mapping[date, FrozenDay] | None = None,
    *,
    schedule_text: str | None = None,
    article_text: str | None = None,
) -> Project:
    """Load and validate every input; raise InvalidInput listing all problems found.

    `frozen`: the days whose send has started, as the ledger recorded them (`Store.frozen_days()`); they are
    kept as they were and only the other days are split again. `schedule_text`, `article_text`: check this
    text instead of schedule.yaml or content/article.md on disk (the studio's unsaved edit)."""
    problems: list[Problem] = []
    loaded = article = disclaimer = crisis = None
    for loader in ("schedule", "article", "disclaimer", "crisis"):
        try:
            if loader == "schedule" and schedule_text is not None:
                loaded = parse_schedule(schedule_text, settings.schedule_path.name)
            elif loader == "schedule":
                loaded = load_schedule(settings.schedule_path)
            elif loader == "article":
                article = load_article(settings.content_dir / "article.md", article_text)
            elif loader == "disclaimer":
                disclaimer = load_disclaimer(settings.content_dir / "disclaimer.md")
            else:
                crisis = load_crisis_resources(settings.content_dir / "crisis_resources.yaml")
        except InvalidInput as err:
            problems.extend(err.problems)
    if problems:
        raise InvalidInput(problems)
    assert loaded is not None and article is not None and disclaimer is not None and crisis is not None
    if loaded.schedule.campaign.default_country not in crisis.countries:
        line = loaded.lines.get(("campaign", "default_country"))
        raise InvalidInput(
            Problem(
                "schedule.yaml",
                line,
                "campaign.default_country",
                f"no crisis resources for {loaded.schedule.campaign.default_country}",
                f"use one of {', '.join(crisis.countries)}",
            )
        )
    if not frozen:
        return Project(settings, loaded, article, disclaimer, crisis, make_plan(loaded, article))
    fixed = plan_with_frozen(loaded, article, frozen)  # plans once: the files' own plan when nothing sent changed
    return Project(settings, loaded, article, disclaimer, crisis, fixed.plan, fixed.frozen, fixed.warnings)


def _ack_key(day: date) -> str:
    return f"part: {part_number(day)}" if is_part_key(day) else f"day: {day}"
