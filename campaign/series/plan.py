"""Split the article into one part per scheduled day (pure and deterministic).

Units. The splitter moves *units*, never less: a paragraph, a whole list, or a run of headings glued to the
block that follows them (a heading always travels with its first paragraph). So no paragraph or list is
ever split, and no heading is left dangling at the end of a day.

Objective. With W the article's total word count and D the number of days, the parts are chosen to
minimise  Σ_d (w_d − W/D)²  — the sum of squared deviations of each day's word count from the mean —
subject to: order kept, every day non-empty, and each pinned section starting its pinned day. Dynamic
programming over (day, unit) finds the exact optimum in O(D·U²); ties go to the earliest cut, so the
result is deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from campaign.errors import ContentError, Problem, ScheduleError
from campaign.series.content import Article, Block
from campaign.series.schedule import LoadedSchedule


@dataclass(frozen=True)
class Part:
    day: date
    number: int  # 1-based position in the series ("Day N of 30")
    total: int | None  # None: "Day N" alone (the series' length changed after days went out; see frozen.py)
    blocks: tuple[Block, ...]
    continued: str | None  # heading of the section this part continues, if it starts mid-section
    continued_level: int = 2

    @property
    def words(self) -> int:
        return sum(b.words for b in self.blocks)

    @property
    def source(self) -> str:
        return "\n\n".join(b.source for b in self.blocks)


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]

    def part_for(self, day: date) -> Part:
        for part in self.parts:
            if part.day == day:
                return part
        raise KeyError(day)

    @property
    def spread(self) -> int:
        counts = [p.words for p in self.parts]
        return max(counts) - min(counts)

    @property
    def mean(self) -> float:
        return sum(p.words for p in self.parts) / len(self.parts)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("’", "'").replace("'", "")).strip("-")


def units_of(blocks: tuple[Block, ...]) -> list[tuple[Block, ...]]:
    units, pending = [], []
    for block in blocks:
        pending.append(block)
        if block.kind != "heading":
            units.append(tuple(pending))
            pending = []
    if pending:  # trailing headings with nothing after them stay with the last unit
        if units:
            units[-1] = units[-1] + tuple(pending)
        else:
            units.append(tuple(pending))
    return units


def _pinned_starts(loaded: LoadedSchedule, article: Article, units) -> dict[int, int]:
    """day index → unit index that must start it."""
    schedule = loaded.schedule
    by_slug: dict[str, int] = {}
    for index, unit in enumerate(units):
        for block in unit:
            if block.kind == "heading":
                by_slug.setdefault(slug(block.text), index)
    problems: list[Problem] = []
    starts: dict[int, int] = {}
    seen: dict[str, date] = {}
    for day_index, day in enumerate(schedule.dates):
        for k, name in enumerate(schedule.days[day].pin):
            line = loaded.lines.get(("days", str(day), "pin", str(k))) or loaded.line_of_day(day)
            unit = by_slug.get(slug(name))
            if unit is None:
                known = ", ".join(f'"{h.text}"' for h in article.headings())
                problems.append(
                    Problem(
                        str(loaded.path),
                        line,
                        f"days.{day}.pin[{k}]",
                        f'no section heading "{name}" in {article.path}',
                        f"use a heading's exact text: {known}",
                    )
                )
                continue
            if name in seen:
                problems.append(
                    Problem(
                        str(loaded.path),
                        line,
                        f"days.{day}.pin[{k}]",
                        f'section "{name}" is already pinned to {seen[name]}',
                        "pin it to one day",
                    )
                )
                continue
            seen[name] = day
            if day_index in starts and starts[day_index] != unit:
                problems.append(
                    Problem(
                        str(loaded.path),
                        line,
                        f"days.{day}.pin[{k}]",
                        "a day can start with only one section",
                        "pin the other section to another day",
                    )
                )
                continue
            starts[day_index] = unit
    if problems:
        raise ScheduleError(problems)
    # Pins must be in article order and leave at least one unit for every day in between.
    ordered = sorted(starts.items())
    previous_day, previous_unit = -1, -1
    for day_index, unit in ordered + [(len(schedule.dates), len(units))]:
        gap_days, gap_units = day_index - previous_day, unit - previous_unit
        if gap_units < gap_days or (day_index < len(schedule.dates) and unit <= previous_unit):
            day = schedule.dates[min(day_index, len(schedule.dates) - 1)]
            raise ScheduleError(
                Problem(
                    str(loaded.path),
                    loaded.line_of_day(day),
                    f"days.{day}.pin",
                    f"cannot place the pinned sections: {gap_units} article blocks for {gap_days} days between pins",
                    "move the pin to a day that keeps sections in article order, with at "
                    "least one paragraph for every day in between",
                )
            )
        previous_day, previous_unit = day_index, unit
    return starts


def make_plan(loaded: LoadedSchedule, article: Article) -> Plan:
    schedule = loaded.schedule
    units = units_of(article.blocks)
    days = len(schedule.dates)
    if len(units) < days:
        raise ContentError(
            Problem(
                article.path,
                None,
                "",
                f"the article has {len(units)} paragraphs and lists but the schedule has {days} days",
                "schedule fewer days or add text",
            )
        )
    pins = _pinned_starts(loaded, article, units)
    bounds = split_units(units, days, pins)
    if bounds is None:
        raise ScheduleError(
            Problem(str(loaded.path), None, "days", "the pins cannot all be honoured", "remove or move a pin")
        )
    parts = []
    for number, ((i, j), day) in enumerate(zip(bounds, schedule.dates, strict=True), start=1):
        blocks = tuple(b for unit in units[i:j] for b in unit)
        parts.append(Part(day, number, days, blocks, *continued_from(units, i)))
    return Plan(tuple(parts))


def split_units(units: list[tuple[Block, ...]], days: int, pins: dict[int, int]) -> list[tuple[int, int]] | None:
    """The optimal cut of `units` into `days` consecutive (start, end) ranges, each pinned day starting at its
    unit; None when the pins cannot all be honoured."""
    words = [sum(b.words for b in unit) for unit in units]
    prefix = [0]
    for w in words:
        prefix.append(prefix[-1] + w)
    mean = prefix[-1] / days
    n = len(units)
    inf = float("inf")
    # best[d][j]: minimal cost of putting units[:j] into days[:d]; cut[d][j]: where day d-1 starts.
    best = [[inf] * (n + 1) for _ in range(days + 1)]
    cut = [[-1] * (n + 1) for _ in range(days + 1)]
    best[0][0] = 0.0
    pinned_units = set(pins.values())
    pinned_before = [0]  # pinned_before[k]: how many pinned units lie before unit k
    for k in range(n):
        pinned_before.append(pinned_before[-1] + (k in pinned_units))
    last_pin_before = [-1] * (n + 1)  # last_pin_before[j]: the last pinned unit < j (or -1)
    for k in range(n):
        last_pin_before[k + 1] = k if k in pinned_units else last_pin_before[k]
    for d in range(1, days + 1):
        start_required = pins.get(d - 1)
        previous, row, cuts = best[d - 1], best[d], cut[d]
        for j in range(d, n - (days - d) + 1):
            target = prefix[j] - mean
            if start_required is not None:
                i = start_required
                if i < j and previous[i] != inf and pinned_before[j] - pinned_before[i + 1] == 0:
                    row[j], cuts[j] = previous[i] + (target - prefix[i]) ** 2, i
                continue
            # A pinned unit may only start its own day and never sits inside another: start after the last
            # pin below j. The lowest cost wins, ties to the earliest cut (tuples compare cost, then i).
            lo = max(d - 1, last_pin_before[j] + 1)
            if lo < j:
                cost, i = min((previous[i] + (target - prefix[i]) ** 2, i) for i in range(lo, j))
                if cost != inf:
                    row[j], cuts[j] = cost, i
    if best[days][n] == inf:
        return None
    bounds, j = [], n
    for d in range(days, 0, -1):
        i = cut[d][j]
        bounds.append((i, j))
        j = i
    bounds.reverse()
    return bounds


def continued_from(units, start: int) -> tuple[str | None, int]:
    """If a part starts mid-section, the heading of the section it continues."""
    if units[start][0].kind == "heading":
        return None, 2
    for unit in reversed(units[:start]):
        for block in reversed(unit):
            if block.kind == "heading":
                return block.text, block.level
    return None, 2
