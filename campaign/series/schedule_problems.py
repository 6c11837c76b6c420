"""Turning what is wrong with schedule.yaml into `file:line: field: what — fix` problems: pydantic's errors
translated, subjects folded over two lines, duplicates dropped (series/schedule.py uses these)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from campaign.errors import Problem
from campaign.series.parts import field_of
from campaign.series.yamlsource import dotted_path

SUBJECT_WARN = 70  # longer subjects are cut off in most inboxes: a warning
PREHEADER_WARN = 110  # inbox previews show about this much: a warning

_ONE_LINE_FIELDS = {"subject", "preheader", "from", "reply_to"}


def folded_line_problems(doc, filename: str) -> list[Problem]:
    """A subject or address typed across two lines. YAML folds a quoted one into one line, but the author
    meant two (or pasted a line break): say so instead of sending a subject they did not see."""
    out = []
    for path in sorted(doc.multiline_scalars, key=lambda p: doc.line_of(p) or 0):
        if path and path[-1] in _ONE_LINE_FIELDS:
            out.append(
                Problem(
                    filename,
                    doc.line_of(path),
                    dotted_path(path),
                    f"{path[-1]} must be one line (it spans several lines in the file)",
                    "put it on one line",
                )
            )
    return out


_FIXES = {
    "missing": "add it",
    "string_type": "write text (in quotes if it looks like a number or date)",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "literal_error": "use one of the allowed values",
    "list_type": 'write a list, e.g. ["Final Thoughts"]',
    "dict_type": "write a mapping (key: value lines, indented)",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "too_short": "it must not be empty",
    "string_too_short": "write the text",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "string_pattern_mismatch": "use the documented form",
}


def problem_from_pydantic(e: dict, doc, filename: str, allowed_keys: Callable[[tuple[str, ...]], list[str]]) -> Problem:
    loc = tuple(str(p) for p in e["loc"])
    kind = e["type"]
    message = e["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    fix = _FIXES.get(kind, "")
    if " — " in message:
        message, fix = message.split(" — ", 1)
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        message = f"unknown key {loc[-1]!r}"
        fix = f"remove it or fix its spelling (allowed here: {', '.join(allowed)})" if allowed else "remove it"
    elif kind == "missing":
        message = f"{loc[-1]!r} is required"
        fix = f"add {loc[-1]}: …"
    elif "input" in e and kind.endswith("_type"):
        message = f"{message} (got {e['input']!r})"
    # pydantic appends "[key]" to the loc of dict-key errors; the key itself is the field
    loc = tuple(p for p in loc if p not in ("[key]",))
    return Problem(filename, doc.line_of(loc), dotted_path(loc), message, fix)


def dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.line, p.field, p.message) not in seen:
            seen.add((p.line, p.field, p.message))
            out.append(p)
    return out


def calendar_problems(days: dict, doc, filename: str) -> list[Problem]:
    """Dates outside one September. (Duplicate dates are caught while composing the YAML.)"""
    out = []
    dates = [d for d in days if isinstance(d, date) and not isinstance(d, datetime)]
    year = min(dates).year if dates else None
    for d in dates:
        if d.year < 2000:  # (1900 keys the parts of an on_join series: series/parts.py)
            out.append(
                Problem(filename, doc.line_of(("days", d)), f"days.{d}", f"{d} is before 2000", "use this year's dates")
            )
        elif d.month != 9 or d.year != year:
            out.append(
                Problem(
                    filename,
                    doc.line_of(("days", d)),
                    f"days.{d}",
                    f"{d} is outside September {year}",
                    f"the series runs 1–30 September: use a date from {year}-09-01 to {year}-09-30",
                )
            )
    return out


def length_warnings(schedule, doc, filename: str) -> list[Problem]:
    out = []
    for day in schedule.dates:
        entry = schedule.days[day]
        for field, value, limit, why in (
            ("subject", entry.subject, SUBJECT_WARN, "most inboxes cut a subject off there"),
            ("preheader", entry.preheader, PREHEADER_WARN, "inbox previews show about that much"),
        ):
            if len(value) > limit:
                out.append(
                    Problem(
                        filename,
                        doc.line_of(("days", str(day), field)),
                        f"{field_of(day)}.{field}",
                        f"{field} is {len(value)} characters, over {limit} ({why})",
                        f"shorten it to {limit} characters or fewer",
                    )
                )
    return out
