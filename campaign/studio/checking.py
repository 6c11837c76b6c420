"""The one place the studio checks and renders an edit: `check_day`.

It runs the same code `campaign validate` runs (series/project.py's `load_project`, the safe-messaging lint
and the render that refuses an issue without its crisis block and disclaimer), plus the structural email QA
of `campaign check` (series/qa.py) — on the edited text, without writing anything. The lead adapts this one
function when the load path changes (issue 18); nothing else in the studio calls the pipeline.

A finding is `{field, level, message}`: `field` is subject, preheader, note, article or email (or "" for the
file as a whole), `level` is error (blocks a save) or warning, and `message` is the line the CLI prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from campaign.config import Settings
from campaign.errors import InvalidInput, Problem, SafetyLintError
from campaign.series.edit import set_day_fields
from campaign.series.edition import Edition
from campaign.series.parts import label
from campaign.series.project import Project, load_project
from campaign.series.qa import email_qa

SAMPLE_NAME = "Alex"
_DARK_MEDIA = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.I)
_DAY_FIELD = re.compile(r"^days\.\d{4}-\d{2}-\d{2}\.(subject|preheader|note|pin)")


@dataclass
class DayCheck:
    text: str  # schedule.yaml's text with the edit applied
    html: str | None = None  # the merged email for a sample reader (None when it cannot be rendered)
    plain: str | None = None  # its text part
    findings: list[dict[str, str]] = field(default_factory=list)
    project: Project | None = None
    moves: list[dict[str, Any]] = field(default_factory=list)  # days whose text changes (pins, article edits)

    @property
    def ok(self) -> bool:
        return not any(f["level"] == "error" for f in self.findings)

    @property
    def problems(self) -> list[dict[str, str]]:
        return [{"field": f["field"], "message": f["message"]} for f in self.findings if f["level"] == "error"]


def field_of(problem: Problem) -> str:
    match = _DAY_FIELD.match(problem.field or "")
    if match:
        return "pin" if match.group(1) == "pin" else match.group(1)
    if problem.file.startswith("content/article"):
        return "article"
    if problem.file.startswith("templates"):
        return "email"
    return ""


def _finding(where: str, level: str, message: str) -> dict[str, str]:
    return {"field": where, "level": level, "message": message}


def check_day(
    settings: Settings,
    frozen: Mapping[date, Any] | None,
    current_text: str,
    day: date,
    fields: Mapping[str, Any],
    *,
    country: str | None = None,
    dark: bool = False,
    unsubscribe_url: str = "",
    article_text: str | None = None,
) -> DayCheck:
    """Apply `fields` to `day` in `current_text` and check the result as `campaign validate` would: load
    (schedule, plan, safety content), lint, render (crisis block and disclaimer verified), email QA."""
    try:
        result = DayCheck(set_day_fields(current_text, day, fields))
    except InvalidInput as err:
        return DayCheck(current_text, findings=[_finding(field_of(p), "error", str(p)) for p in _problems(err)])
    try:
        project = load_project(settings, frozen, schedule_text=result.text, article_text=article_text)
    except InvalidInput as err:
        result.findings = [_finding(field_of(p), "error", str(p)) for p in _problems(err)]
        return result
    result.project = project
    _share_templates(project)
    if "pin" in fields or article_text is not None:
        try:
            before = load_project(settings, frozen, schedule_text=current_text)
        except InvalidInput:
            before = None
        result.moves = plan_moves(before, project)
    if day not in project.schedule.days:
        result.findings.append(_finding("", "error", f"{day} is not a scheduled day"))
        return result
    for warning in (*project.loaded.warnings, *project.plan_warnings):
        if str(day) in warning.field:
            result.findings.append(_finding(field_of(warning), "warning", f"warning: {warning}"))
    try:
        lints = project.check_safe_messaging([day])
    except SafetyLintError as err:
        result.findings += [_finding(field_of(p), "error", str(p)) for p in err.problems]
        lints = [f for f in project.lint([day]) if not (f.hit.level == "error" and not f.acknowledged)]
    for finding in lints:
        result.findings.append(_finding(finding.field.split()[0], "warning", f"lint: {finding}"))
    if not result.ok:
        return result
    try:
        rendered = project.render(day, variant_of(project, country))
    except InvalidInput as err:
        result.findings += [_finding(field_of(p), "error", str(p)) for p in _problems(err)]
        return result
    html, plain = rendered.merge(
        unsubscribe_url=unsubscribe_url or f"{settings.public_url}/unsubscribe/preview", name=SAMPLE_NAME
    )
    for problem in email_qa(rendered.html, where=f"{day} ({rendered.variant})"):
        result.findings.append(_finding("email", "warning", f"qa: {problem}"))
    result.html, result.plain = in_scheme(html, dark=dark), plain
    return result


_ENVIRONMENTS: dict[Path, Any] = {}


def _share_templates(project: Project) -> None:
    """One compiled Jinja environment per templates folder for the life of the studio (compiling the templates
    is most of a render): Jinja re-reads a template whose file changed (the loader's `uptodate` check), so an
    edit to templates/ shows at the next check."""
    renderer = project.renderer
    folder = renderer.templates_dir
    shared = _ENVIRONMENTS.setdefault(folder, renderer.env)
    renderer.env = shared


def check_article(
    settings: Settings, frozen: Mapping[date, Any] | None, schedule_text: str, article_text: str
) -> DayCheck:
    """An edit of content/article.md checked as `campaign validate` checks the files (load, plan around the days
    already sent, safe-messaging lint of every day, a render), with the days whose text it changes."""
    result = DayCheck(schedule_text)
    try:
        project = load_project(settings, frozen, schedule_text=schedule_text, article_text=article_text)
    except InvalidInput as err:
        result.findings = [_finding(field_of(p), "error", str(p)) for p in _problems(err)]
        return result
    result.project = project
    _share_templates(project)
    for warning in project.plan_warnings:
        result.findings.append(_finding(field_of(warning), "warning", f"warning: {warning}"))
    try:
        lints = project.check_safe_messaging()
        planned = [d for d in project.schedule.dates if d not in project.frozen]
        if planned:
            project.render(planned[0])
    except InvalidInput as err:
        result.findings += [_finding(field_of(p), "error", str(p)) for p in _problems(err)]
        lints = [f for f in project.lint() if not (f.hit.level == "error" and not f.acknowledged)]
    result.findings += [_finding(f.field.split()[0], "warning", f"lint: {f}") for f in lints]
    try:
        before = load_project(settings, frozen, schedule_text=schedule_text)
    except InvalidInput:
        before = None
    result.moves = plan_moves(before, project)
    return result


def as_sent(
    settings: Settings,
    frozen: Mapping[date, Any],
    day: date,
    *,
    edition: Edition | None = None,
    country: str | None = None,
    dark: bool = False,
) -> DayCheck:
    """A day whose send has started, as it went out: its stored edition (series/edition.py) when it has one —
    the very email every reader got — else (frozen by a later day's start, not sent itself) the project loaded
    as the ledger recorded it renders that day from its recorded words and blocks, whatever the files say now."""
    project = None
    wanted = "INTL" if country == "INTL" else edition.variant_for(country) if edition is not None else None
    if edition is not None and wanted is not None and edition.has(wanted):
        rendered = edition.issue(wanted)
    else:
        try:
            project = load_project(settings, frozen)
            _share_templates(project)
            rendered = project.render(day, variant_of(project, country))
        except InvalidInput as err:
            return DayCheck("", findings=[_finding(field_of(p), "error", str(p)) for p in _problems(err)])
    html, plain = rendered.merge(unsubscribe_url=f"{settings.public_url}/unsubscribe/preview", name=SAMPLE_NAME)
    return DayCheck("", in_scheme(html, dark=dark), plain, project=project)


def variant_of(project: Project, country: str | None) -> str:
    """The crisis variant for a country code (INTL: the international block alone; unknown: the default)."""
    if country == "INTL":
        return "INTL"
    return project.variant_for(country if country in project.crisis.countries else None)


def opening(part) -> str:
    first = part.blocks[0].text.replace("\n", " ") if part.blocks else ""
    return first[:120] + ("…" if len(first) > 120 else "")


def plan_moves(before: Project | None, after: Project) -> list[dict[str, Any]]:
    """The days whose text an edit changes (paragraphs moved to or from them, or edited in place): what each now
    starts with, and before."""
    old = {p.day: p for p in before.plan.parts} if before is not None else {}
    retitled = before is not None and before.article.title != after.article.title  # every email names the title
    out = []
    for part in after.plan.parts:
        was = old.get(part.day)
        if was is None or retitled or [(b.line, b.text) for b in was.blocks] != [(b.line, b.text) for b in part.blocks]:
            out.append(
                {
                    "date": part.day.isoformat(),
                    "label": label(part.day),  # "2027-09-05", or "part 3" (start: on_join)
                    "now": opening(part),
                    "was": opening(was) if was is not None else None,
                    "words": part.words,
                    "words_before": was.words if was is not None else None,
                }
            )
    return out


def _problems(err: InvalidInput) -> list[Problem]:
    return [p if isinstance(p, Problem) else Problem("", None, "", str(p), "") for p in err.problems]


def in_scheme(html: str, *, dark: bool) -> str:
    """The email as a dark-mode (or light-mode) client shows it: its own dark rules always (or never) apply."""
    return _DARK_MEDIA.sub("@media all" if dark else "@media not all", html)
