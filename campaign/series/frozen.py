"""Frozen days: once a day's send starts, what that day *is* never changes (pure).

When a day's send starts, the ledger records the day as sent — its article blocks (their Markdown, each with a
stable identity: a hash of its kind, level and text), the number and total it printed, its subject, preheader
and note. From then on `plan`, `build`, `preview`, the archive and every later send use that record: only the
days not yet started are split again, over the article blocks not yet sent.

Matching the current article against what was sent (difflib over block identities, so an edit is a local
change, not a re-split):
- a block sent unchanged is *sent*;
- a block that replaced a sent one at the same place is an *edit of a sent block*: reported as a warning
  ("day 3 went out with an earlier version of this paragraph") and not sent again;
- a block added in the middle of text already sent cannot reach readers in order: an error naming its line
  and the fix (move it after the text already sent);
- everything after the last sent block is *unsent*, and is split over the days still to come.

Labels. Later days continue the numbering of the recorded ones ("Day 6" follows "Day 5"). When the series'
length changes after days went out ("of 30" already in inboxes, 29 days now), later days print "Day N" only,
so no email contradicts one already received.

Days are frozen as a prefix of the schedule: starting day k freezes every earlier day not frozen yet (missed or
skipped days keep the text they were planned with, so `campaign send 3` later sends what day 3 was).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from difflib import SequenceMatcher
from typing import Any

from campaign.errors import ContentError, Problem, ScheduleError
from campaign.series.content import Article, Block
from campaign.series.parts import is_part_key
from campaign.series.plan import Part, Plan, continued_from, make_plan, slug, split_units, units_of
from campaign.series.schedule import LoadedSchedule


def block_id(block: Block) -> str:
    """A block's stable identity: its kind, level and Markdown — not its line (moving text keeps it)."""
    digest = hashlib.sha256(f"{block.kind}\x1f{block.level}\x1f{block.source}".encode()).hexdigest()
    return digest[:20]


@dataclass(frozen=True)
class FrozenDay:
    """A day as it went out (or as it was when a later day went out)."""

    day: date
    number: int
    total: int | None  # None: printed "Day N" without a total
    subject: str
    preheader: str
    note: str | None
    blocks: tuple[Block, ...]
    continued: str | None = None
    continued_level: int = 2

    @property
    def block_ids(self) -> tuple[str, ...]:
        return tuple(block_id(b) for b in self.blocks)

    def part(self) -> Part:
        return Part(self.day, self.number, self.total, self.blocks, self.continued, self.continued_level)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: what the ledger stores."""
        return {
            "day": self.day.isoformat(),
            "number": self.number,
            "total": self.total,
            "subject": self.subject,
            "preheader": self.preheader,
            "note": self.note,
            "continued": self.continued,
            "continued_level": self.continued_level,
            "blocks": [
                {
                    "id": block_id(b),
                    "kind": b.kind,
                    "level": b.level,
                    "line": b.line,
                    "source": b.source,
                    "text": b.text,
                }
                for b in self.blocks
            ],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FrozenDay:
        blocks = tuple(
            Block(kind=b["kind"], source=b["source"], text=b["text"], line=int(b["line"]), level=int(b["level"]))
            for b in record["blocks"]
        )
        return cls(
            day=date.fromisoformat(record["day"]),
            number=int(record["number"]),
            total=record.get("total"),
            subject=record["subject"],
            preheader=record.get("preheader") or "",
            note=record.get("note"),
            blocks=blocks,
            continued=record.get("continued"),
            continued_level=int(record.get("continued_level") or 2),
        )


def freeze(part: Part, *, subject: str, preheader: str, note: str | None) -> FrozenDay:
    return FrozenDay(
        part.day, part.number, part.total, subject, preheader, note, part.blocks, part.continued, part.continued_level
    )


def to_freeze(project: Any, through: date) -> list[FrozenDay]:
    """The days up to `through` not frozen yet, as `project` (a series.project.Project) plans them now."""
    out = []
    for part in project.plan.parts:
        if part.day <= through and part.day not in project.frozen:
            entry = project.schedule.days[part.day]
            out.append(freeze(part, subject=entry.subject, preheader=entry.preheader, note=entry.note))
    return out


@dataclass(frozen=True)
class FrozenPlan:
    plan: Plan
    frozen: Mapping[date, FrozenDay]
    warnings: tuple[Problem, ...] = field(default=())


def plan_with_frozen(loaded: LoadedSchedule, article: Article, frozen: Mapping[date, FrozenDay]) -> FrozenPlan:
    """The series: the recorded days as they were, then the unsent blocks split over the days to come.

    When the recorded days are exactly what the files plan today (nothing was edited since), that plan is
    kept as it is: starting a send never re-splits the days after it."""
    schedule = loaded.schedule
    mixed = [d for d in frozen if is_part_key(d) != schedule.campaign.on_join]
    if mixed:  # a calendar series and an evergreen one never share a ledger (their days are keyed apart)
        had, now = ("parts of an evergreen series", "days:") if is_part_key(mixed[0]) else ("calendar days", "parts:")
        raise ScheduleError(
            Problem(
                str(loaded.path),
                None,
                "campaign.start",
                f"this database has sent {had}, and schedule.yaml now lists {now} — the two cannot continue one another",
                "put start back as it was, or point CAMPAIGN_DATABASE_URL at a new database for the new series",
            )
        )
    untouched = _plan_if_untouched(loaded, article, frozen)
    if untouched is not None:
        return FrozenPlan(untouched, dict(frozen))
    recorded = [frozen[d] for d in sorted(frozen)]
    last_frozen = recorded[-1].day
    sent = [(block_id(b), f.number) for f in recorded for b in f.blocks]
    current = [block_id(b) for b in article.blocks]
    status, warnings, problems = _match(sent, current, article)
    if problems:
        raise ContentError(problems)
    first_unsent = next((i for i, s in enumerate(status) if s == "unsent"), len(status))
    remaining_blocks = article.blocks[first_unsent:]
    remaining_days = [d for d in schedule.dates if d > last_frozen]
    parts = [f.part() for f in recorded]
    if remaining_days:
        if not remaining_blocks:
            raise ContentError(
                Problem(
                    article.path,
                    None,
                    "",
                    f"every paragraph of the article has gone out by day {recorded[-1].number}, "
                    f"but {len(remaining_days)} more day(s) are scheduled",
                    "remove the remaining days from schedule.yaml or add text after the part already sent",
                )
            )
        parts += _split_remaining(loaded, article, first_unsent, remaining_days, recorded, warnings)
    elif remaining_blocks:
        warnings.append(
            Problem(
                article.path,
                remaining_blocks[0].line,
                "",
                f"{len(remaining_blocks)} block(s) after the text already sent have no day left to go out on",
                "add a day to schedule.yaml after the last one sent",
            )
        )
    for day in sorted(set(frozen) - set(schedule.dates)):
        warnings.append(
            Problem(
                str(loaded.path),
                None,
                f"days.{day}",
                f"day {frozen[day].number} ({day}) has been sent and is no longer in the schedule; "
                "it stays in the series as sent",
                "nothing to do — removing a sent day does not unsend it",
            )
        )
    return FrozenPlan(Plan(tuple(parts)), dict(frozen), tuple(warnings))


def _plan_if_untouched(loaded: LoadedSchedule, article: Article, frozen: Mapping[date, FrozenDay]) -> Plan | None:
    try:
        plan = make_plan(loaded, article)
    except (ContentError, ScheduleError):
        return None  # the files alone cannot be planned any more: only the re-split can say what is left
    by_day = {part.day: part for part in plan.parts}
    if all(day in by_day and by_day[day] == recorded.part() for day, recorded in frozen.items()):
        return plan
    return None


def _match(sent: list[tuple[str, int]], current: list[str], article: Article):
    """Label each current block went out | edited | inserted | unsent (see the module docstring)."""
    sent_ids = [i for i, _ in sent]
    status = ["unsent"] * len(current)
    warnings: list[Problem] = []
    problems: list[Problem] = []
    matcher = SequenceMatcher(None, sent_ids, current, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        at_end = i2 == len(sent_ids)
        if tag == "equal":
            status[j1:j2] = ["went out"] * (j2 - j1)
        elif tag in ("replace", "insert"):
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(paired):
                status[j1 + k] = "edited"
                block = article.blocks[j1 + k]
                warnings.append(
                    Problem(
                        article.path,
                        block.line,
                        "",
                        f"day {sent[i1 + k][1]} went out with an earlier version of this paragraph; "
                        "the edit is not sent again",
                        "nothing to do, or put the correction in a later day's note",
                    )
                )
            for j in range(j1 + paired, j2):
                if not at_end:
                    status[j] = "inserted"
                    problems.append(
                        Problem(
                            article.path,
                            article.blocks[j].line,
                            "",
                            f"this block was added inside text that day {sent[min(i1, len(sent) - 1)][1]} "
                            "already sent, so no reader would get it",
                            "move it after the text already sent, or into a section not sent yet",
                        )
                    )
    return status, warnings, problems


def _split_remaining(
    loaded: LoadedSchedule,
    article: Article,
    first_unsent: int,
    remaining_days: list[date],
    recorded: list[FrozenDay],
    warnings: list[Problem],
) -> list[Part]:
    all_units = units_of(article.blocks)
    # the unit where the unsent text starts (a unit never straddles it: a heading travels with what follows)
    start_unit, position = len(all_units), 0
    for index, unit in enumerate(all_units):
        if position >= first_unsent:
            start_unit = index
            break
        position += len(unit)
    units = all_units[start_unit:]
    if len(units) < len(remaining_days):
        raise ContentError(
            Problem(
                article.path,
                None,
                "",
                f"{len(units)} paragraph(s) and list(s) are left to send but {len(remaining_days)} days are "
                "still scheduled",
                "schedule fewer days or add text after the part already sent",
            )
        )
    pins = _remaining_pins(loaded, article, units, remaining_days, warnings)
    bounds = split_units(units, len(remaining_days), pins)
    if bounds is None:
        raise ScheduleError(
            Problem(
                str(loaded.path),
                None,
                "days",
                "the pins of the days not sent yet cannot all be honoured",
                "remove or move a pin",
            )
        )
    printed = {f.total for f in recorded}
    total: int | None = len(recorded) + len(remaining_days)
    if printed - {total}:
        total = None  # the length changed after days went out: print "Day N" only
    base = recorded[-1].number
    parts = []
    for k, ((i, j), day) in enumerate(zip(bounds, remaining_days, strict=True), start=1):
        blocks = tuple(b for unit in units[i:j] for b in unit)
        parts.append(Part(day, base + k, total, blocks, *continued_from(all_units, start_unit + i)))
    return parts


def _remaining_pins(
    loaded: LoadedSchedule, article: Article, units, remaining_days: list[date], warnings: list[Problem]
) -> dict[int, int]:
    by_slug: dict[str, int] = {}
    for index, unit in enumerate(units):
        for block in unit:
            if block.kind == "heading":
                by_slug.setdefault(slug(block.text), index)
    known = {slug(h.text) for h in article.headings()}
    pins: dict[int, int] = {}
    for day_index, day in enumerate(remaining_days):
        for k, name in enumerate(loaded.schedule.days[day].pin):
            unit = by_slug.get(slug(name))
            line = loaded.lines.get(("days", str(day), "pin", str(k))) or loaded.line_of_day(day)
            if unit is None:
                if slug(name) in known:
                    warnings.append(
                        Problem(
                            str(loaded.path),
                            line,
                            f"days.{day}.pin[{k}]",
                            f'section "{name}" has already gone out; the pin is ignored',
                            "remove the pin",
                        )
                    )
                    continue
                raise ScheduleError(
                    Problem(
                        str(loaded.path),
                        line,
                        f"days.{day}.pin[{k}]",
                        f'no section heading "{name}" in {article.path}',
                        "use a heading's exact text",
                    )
                )
            pins[day_index] = unit
    return pins
