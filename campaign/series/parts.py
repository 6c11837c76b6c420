"""`start: on_join` — the evergreen series: schedule.yaml lists *parts*, not dates.

Each reader's part 1 goes out at their first send time after they join, then one part per send time they
may get (`send_days`, `days_between`). A part has no date of its own, so inside the product a part is keyed
by a fixed stand-in date: part n is `PART_EPOCH + (n - 1) days` (1 January 1900 onwards, a year no
September series can use: calendar dates before 2000 are refused). Everything keyed by a day — the plan and
its pins, frozen parts, the stored render, the deliveries ledger, the archive — works on parts unchanged: a
part is frozen once anyone has been sent it, exactly as a calendar day is, and unsent parts may still be
re-split. What people read never shows the stand-in date: files, messages and tables say "part n" and
`parts[i]` (the YAML path: i = n - 1), and the build writes `part-01/` folders.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from campaign.errors import Problem
from campaign.series.yamlsource import norm_key  # (pydantic writes a date key as its repr)

PART_EPOCH = date(1900, 1, 1)
MAX_PARTS = 365  # a part a day for a year: far more than an article has
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order


def part_key(number: int) -> date:
    return PART_EPOCH + timedelta(days=number - 1)


def is_part_key(day: date) -> bool:
    return day.year == PART_EPOCH.year


def part_number(day: date) -> int:
    return (day - PART_EPOCH).days + 1


def field_of(day: date) -> str:
    """The schedule.yaml path of a day or a part: `days.2027-09-05` or `parts[2]` (part 3)."""
    return f"parts[{part_number(day) - 1}]" if is_part_key(day) else f"days.{day}"


def label(day: date) -> str:
    """How a day or a part is named to people: `2027-09-05` or `part 3`."""
    return f"part {part_number(day)}" if is_part_key(day) else day.isoformat()


def folder_name(day: date) -> str:
    """A build folder: `2027-09-05/` or `part-03/`."""
    return f"part-{part_number(day):02d}" if is_part_key(day) else day.isoformat()


def parts_as_days(data: dict, doc, filename: str) -> list[Problem]:
    """An on_join schedule's `parts:` list becomes the `days:` mapping keyed by part (in place), and the
    lines of `parts[i]…` answer for the part's key too, so every look-up by day finds its line. Returns what
    is wrong with the shape (a calendar series with parts:, or on_join with days:)."""
    campaign = data.get("campaign")
    on_join = isinstance(campaign, dict) and campaign.get("start") == "on_join"
    parts = data.get("parts")
    if not on_join:
        if "parts" not in data:
            return []
        data.pop("parts")
        return [
            _shape(
                doc, filename, "parts", "parts: is for start: on_join", "write days: with dates, or set start: on_join"
            )
        ]
    problems = []
    if "days" in data:
        data.pop("days")
        problems.append(
            _shape(doc, filename, "days", "start: on_join lists parts, not dates", "write parts: as a list of entries")
        )
    if not isinstance(parts, list) or not parts:
        data["days"] = {}
        if "parts" in data or not problems:
            why = (
                "parts: must be a list of parts (subject, preheader, note, pin)"
                if "parts" in data
                else "'parts' is required"
            )
            problems.append(_shape(doc, filename, "parts", why, "add parts: with one `- subject: …` entry per part"))
        data.pop("parts", None)
        return problems
    if len(parts) > MAX_PARTS:
        problems.append(
            _shape(doc, filename, "parts", f"{len(parts)} parts, over {MAX_PARTS}", f"keep it to {MAX_PARTS} parts")
        )
        parts = parts[:MAX_PARTS]
    data["days"] = {part_key(i + 1): entry for i, entry in enumerate(parts)}
    del data["parts"]
    for path, line in list(doc.lines.items()):
        if len(path) >= 2 and path[0] == "parts" and str(path[1]).isdigit() and int(path[1]) < MAX_PARTS:
            doc.lines[("days", part_key(int(path[1]) + 1).isoformat(), *path[2:])] = line
    return problems


def _shape(doc, filename: str, field: str, message: str, fix: str) -> Problem:
    return Problem(filename, doc.line_of((field,)), field, message, fix)


def pydantic_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error's location under `days` keyed by a part: the `parts` index it came from."""
    key = norm_key(loc[1]) if len(loc) >= 2 and loc[0] == "days" else ""
    if len(key) == 10 and key.startswith(f"{PART_EPOCH.year}-"):
        return ("parts", part_number(date.fromisoformat(key)) - 1, *loc[2:])
    return loc


URL_DAY = re.compile(r"(?:\d{4}-\d{2}-\d{2}|part-[1-9]\d{0,2})", re.ASCII)  # ASCII digits only


def url_name(day: date) -> str:
    """A day in a URL (the archive, an engagement link): `2027-09-05` or `part-3`."""
    return f"part-{part_number(day)}" if is_part_key(day) else day.isoformat()


def from_url(raw: str) -> date | None:
    """The day or part a URL names; None when it names neither."""
    if not URL_DAY.fullmatch(raw):
        return None
    if raw.startswith("part-"):
        number = int(raw[5:])
        return part_key(number) if number <= MAX_PARTS else None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return None if is_part_key(day) else day


def from_path(raw: str) -> date | None:
    """A day or part in a studio URL: what `from_url` reads, or a part's key as the JSON API gives it."""
    day = from_url(raw)
    if day is None and len(raw) == 10 and raw[:4] == f"{PART_EPOCH.year}":
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            return None
    return day


def acknowledgement_problems(schedule: Any, doc, filename: str) -> list[Problem]:
    """An acknowledgement names a part in an on_join series (`part: 5`) and a date in a calendar one."""
    out = []
    for i, ack in enumerate(schedule.acknowledgements):
        wrong = "day" if schedule.campaign.on_join and ack.day is not None else None
        wrong = wrong or ("part" if not schedule.campaign.on_join and ack.part is not None else None)
        if wrong == "day":
            why, fix = "an evergreen series (start: on_join) has parts, not dates", "write part: N (the part's number)"
        elif wrong == "part":
            why, fix = "part: is for start: on_join", "write day: YYYY-MM-DD (a date under days:)"
        else:
            continue
        loc = ("acknowledgements", str(i), wrong)
        out.append(Problem(filename, doc.line_of(loc), f"acknowledgements[{i}].{wrong}", why, fix))
    return out
