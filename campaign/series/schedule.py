"""schedule.yaml → a validated `Schedule`, with every problem reported as `file:line: field: what — fix`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from campaign.clock import parse_hhmm, zone_of
from campaign.config import PROVIDER_NAMES
from campaign.errors import Problem, ScheduleError
from campaign.series.alerting import AlertSettings, BreakerSettings
from campaign.series.headers import address, one_line
from campaign.series.parts import (
    MAX_PARTS,
    WEEKDAYS,
    acknowledgement_problems,
    part_key,
    parts_as_days,
    pydantic_loc,
)
from campaign.series.schedule_problems import (
    SUBJECT_WARN,
    calendar_problems,
    dedupe,
    folded_line_problems,
    length_warnings,
    problem_from_pydantic,
)
from campaign.series.yamlsource import load_yaml

SUBJECT_MAX = 150  # an error (SUBJECT_WARN and PREHEADER_WARN: schedule_problems.py)


_one_line = one_line
_address = address


LATE_SKIP = "late_joiners: from_start keeps each reader's place by postponing — write personal_pause: postpone"
LATE_WELCOME = "welcome: true applies to late_joiners: from_start — write that, or use late_joiners: welcome"
EVERGREEN_ONLY = "{} applies to start: on_join (a calendar series sends each day on its date) — remove it"
JOIN_WELCOME = "start: on_join starts every reader at part 1 — remove late_joiners (it is for a calendar series)"
JOIN_SKIP = "start: on_join keeps each reader's place by postponing — write personal_pause: postpone"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)


class CampaignSettings(_Strict):
    name: str = Field(min_length=1)
    from_: str = Field(alias="from")
    reply_to: str | None = None
    postal_address: str = Field(min_length=1)
    timezone: str = "America/New_York"
    send_time: str = "09:00"
    provider: str = "outbox"  # a name of the provider registry (config.PROVIDER_CLASSES)
    default_country: str = "US"
    delivery: Literal["campaign_time", "local_time"] = "campaign_time"
    misfire_grace_minutes: int = Field(default=120, ge=0)
    # calendar: the September series, a date per day; on_join: evergreen — parts, from each reader's own day 1
    # (series/parts.py), on the weekdays of `send_days` (all by default), `days_between` days apart at least.
    start: Literal["calendar", "on_join"] = "calendar"
    send_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(default=None, min_length=1)
    days_between: int = Field(default=1, ge=1, le=28)
    # after day 1 went out: next day; a welcome first; or every part from part 1 (`welcome: true` welcomes too)
    late_joiners: Literal["next_day", "welcome", "from_start"] = "next_day"
    rate_limit: float | None = Field(default=None, gt=0, description="messages per second; default per provider")
    concurrency: int | None = Field(default=None, ge=1, le=64, description="requests in flight at once")
    message_stream: str = "broadcast"
    seed_list: list[str] = Field(default_factory=list, description="addresses `campaign send DAY --seeds` tests")
    # A subscriber's own 7-day pause: "postpone" — they resume where they left off, one part a day (the series
    # runs on for them past its last day); "skip" — the parts sent during their pause are not sent to them.
    personal_pause: Literal["postpone", "skip"] = "postpone"
    welcome: bool = False  # late_joiners: from_start only — welcome them first (the archive link, part 1's date)

    @field_validator("personal_pause", "welcome", "send_days", "days_between", "late_joiners")
    @classmethod
    def _from_start(cls, v, info: ValidationInfo):
        from_start = info.data.get("late_joiners") == "from_start"
        on_join = info.data.get("start") == "on_join"
        if info.field_name in ("send_days", "days_between") and not on_join and v not in (None, 1):
            raise ValueError(EVERGREEN_ONLY.format(info.field_name))
        if info.field_name == "late_joiners" and on_join and v == "welcome":
            raise ValueError(JOIN_WELCOME)
        if info.field_name == "personal_pause" and v == "skip" and (from_start or on_join):
            raise ValueError(JOIN_SKIP if on_join else LATE_SKIP)
        if info.field_name == "welcome" and v and on_join:
            raise ValueError(
                "welcome: true is for a calendar series — with start: on_join part 1 is the welcome; remove it"
            )
        if info.field_name == "welcome" and v and not from_start:
            raise ValueError(LATE_WELCOME)
        return v

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        if v not in PROVIDER_NAMES:
            raise ValueError(f"unknown provider {v!r} — use one of {', '.join(PROVIDER_NAMES)}")
        return v

    @property
    def local_time(self) -> bool:
        """Each subscriber gets the day at send_time in their own zone (`delivery: local_time`)."""
        return self.delivery == "local_time"

    @property
    def postpones(self) -> bool:
        """A reader's own pause holds their parts for later (`personal_pause: postpone`) instead of skipping them."""
        return self.personal_pause == "postpone"

    # The studio holds an edit to a day whose send is less than this many hours away until a second organiser
    # (approver or admin) approves it.
    approval_hours: float = Field(default=24, ge=0, le=24 * 60)
    # Storage limitation: `campaign privacy purge` (daily under `campaign run`) erases readers who left (or never
    # confirmed) more than this many days ago.
    retention_days: int = Field(default=90, ge=1, le=3650)
    # Engagement counted without following anyone (series/engagement.py): "off" (no pixel, no redirect) or
    # "aggregate" (article and archive links counted per day and link); opens: a pixel per day and variant.
    engagement: Literal["off", "aggregate"] = "off"
    opens: Literal["off", "aggregate"] = "off"

    @field_validator("name", "postal_address")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty — write the text")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _one_line(v, "name")

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        return _address(v, "from")

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str | None) -> str | None:
        return None if v is None else _address(v, "reply_to")

    @field_validator("seed_list")
    @classmethod
    def _seed_list(cls, v: list[str]) -> list[str]:
        return [_address(a, "seed_list address") for a in v]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        if zone_of(v) is None:
            raise ValueError(f"unknown timezone {v!r} — use an IANA name such as America/New_York")
        return v

    @field_validator("send_time", mode="before")
    @classmethod
    def _send_time(cls, v: Any) -> str:
        if isinstance(v, int):  # YAML 1.1 reads 9:00 as the sexagesimal number 540
            raise ValueError('send time must be a quoted "HH:MM" string — write send_time: "09:00"')
        try:
            parse_hhmm(v)
        except ValueError:
            raise ValueError(f'send time {v!r} is not HH:MM (24-hour) — write e.g. send_time: "09:00"') from None
        return v

    @field_validator("default_country")
    @classmethod
    def _country(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError(f"default_country {v!r} is not a two-letter ISO code — write e.g. US")
        return v.upper()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def from_start(self) -> bool:  # late joiners get every part from part 1 (kept like a reader's own pause)
        return self.late_joiners == "from_start" or self.on_join

    @property
    def on_join(self) -> bool:  # evergreen: every reader is a late joiner of a series of parts (series/parts.py)
        return self.start == "on_join"

    @property
    def weekdays(self) -> frozenset[int]:
        """The weekdays parts may go out on (date.weekday() numbers), in each reader's own zone."""
        return frozenset(WEEKDAYS.index(d) for d in self.send_days) if self.send_days else frozenset(range(7))

    @property
    def zoned(self) -> bool:
        """Sends are grouped by the readers' zones: local_time, or weekdays that depend on where a reader is."""
        return self.local_time or len(self.weekdays) < 7

    @property
    def send_clock(self) -> time:
        return parse_hhmm(self.send_time)


class DayEntry(_Strict):
    subject: str
    preheader: str = ""
    note: str | None = None
    pin: list[str] = Field(default_factory=list)
    send_time: str | None = None

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("subject is empty — write a subject line")
        v = _one_line(v, "subject")
        if len(v) > SUBJECT_MAX:
            raise ValueError(
                f"subject is {len(v)} characters — keep it to {SUBJECT_MAX} at most (ideally {SUBJECT_WARN})"
            )
        return v

    @field_validator("preheader")
    @classmethod
    def _preheader(cls, v: str) -> str:
        return _one_line(v, "preheader")

    @field_validator("send_time", mode="before")
    @classmethod
    def _send_time(cls, v: Any) -> str | None:
        return None if v is None else CampaignSettings._send_time(v)


class Acknowledgement(_Strict):
    rule: str = Field(pattern=r"^[LK]\d{1,2}$")
    day: date | None = None  # a calendar series' date, or…
    part: int | None = Field(default=None, ge=1, le=MAX_PARTS)  # …a part of a start: on_join series
    reason: str = Field(min_length=3)
    excerpt: str | None = None

    @model_validator(mode="after")
    def _day_or_part(self):
        if (self.day is None) == (self.part is None):
            raise ValueError("write either day: (a date) or part: (a number, start: on_join) — one of them")
        return self

    @property
    def key(self) -> date:
        return self.day if self.day is not None else part_key(self.part or 1)


class Schedule(_Strict):
    campaign: CampaignSettings
    days: dict[date, DayEntry] = Field(min_length=1)
    acknowledgements: list[Acknowledgement] = Field(default_factory=list)
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # series/alerting.py
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)

    # -- derived views -------------------------------------------------------------------------------
    @cached_property
    def dates(self) -> list[date]:
        return sorted(self.days)

    def day_number(self, day: date) -> int:
        return self.dates.index(day) + 1

    def send_clock(self, day: date) -> time:
        """The day's send time of day: its own `send_time`, else the campaign's."""
        own = self.days[day].send_time
        return parse_hhmm(own) if own else self.campaign.send_clock

    def send_at(self, day: date) -> datetime:
        """The day's send instant, timezone-aware, in the campaign's zone (zoneinfo handles DST)."""
        return datetime.combine(day, self.send_clock(day), tzinfo=self.campaign.tz)

    def resolve_day(self, arg: str | int | date) -> date:
        """A DAY argument: an ISO date (2027-09-05) or a day number in the series (5)."""
        if isinstance(arg, date):
            candidate = arg
        else:
            text = str(arg).strip()
            number = day_number_of(text)
            unit = "part" if self.campaign.on_join else "day"
            if number is not None:
                if not 1 <= number <= len(self.dates):
                    raise ScheduleError(
                        Problem(
                            "schedule.yaml",
                            None,
                            "DAY",
                            f"there is no {unit} {number} (the series has {len(self.dates)} {unit}s)",
                            f"use a number from 1 to {len(self.dates)}"
                            + ("" if self.campaign.on_join else " or an ISO date"),
                        )
                    )
                return self.dates[number - 1]
            try:
                candidate = date.fromisoformat(text)
            except ValueError:
                raise ScheduleError(
                    Problem(
                        "argument",
                        None,
                        "DAY",
                        f"{text[:40]!r} is neither a date nor a day number",
                        "write e.g. 2027-09-05 or 5",
                    )
                ) from None
        if candidate not in self.days:
            raise ScheduleError(
                Problem(
                    "schedule.yaml",
                    None,
                    "DAY",
                    f"{candidate} is not a scheduled day",
                    "pick a date listed under days: in schedule.yaml",
                )
            )
        return candidate


@dataclass(frozen=True)
class LoadedSchedule:
    schedule: Schedule
    path: Path
    lines: dict
    warnings: tuple[Problem, ...] = ()  # e.g. a subject over SUBJECT_WARN characters: printed, not fatal

    def line_of_day(self, day: date) -> int | None:
        return self.lines.get(("days", str(day)))


def parse_schedule(text: str, filename: str = "schedule.yaml") -> LoadedSchedule:
    """Validate schedule text; raise ScheduleError listing *every* problem found."""
    doc = load_yaml(text, filename)
    problems = list(doc.problems)
    if doc.data is None:
        raise ScheduleError(problems)
    if not isinstance(doc.data, dict):
        raise ScheduleError(
            problems
            + [
                Problem(
                    filename,
                    1,
                    "",
                    "the file must be a mapping with campaign: and days:",
                    "start from the schedule.yaml in the repository",
                )
            ]
        )
    schedule = None
    data = dict(doc.data)
    shape = parts_as_days(data, doc, filename)  # start: on_join — parts keyed as days
    problems.extend(shape)
    if isinstance(data.get("days"), dict):
        # Day keys must be dates; report each bad key on its own line (pydantic would blame "days").
        bad = [k for k in data["days"] if not isinstance(k, date) or isinstance(k, datetime)]
        for key in bad:
            problems.append(
                Problem(
                    filename,
                    doc.line_of(("days", key)),
                    f"days.{key}",
                    f"day key {key!r} is not a date",
                    "write it as YYYY-MM-DD, e.g. 2027-09-01",
                )
            )
        data["days"] = {k: v for k, v in data["days"].items() if k not in bad}
    try:
        schedule = Schedule.model_validate(data)
    except ValidationError as err:
        for e in err.errors():
            if shape and tuple(e["loc"]) == ("days",):
                continue  # already said of parts:
            found = {**e, "loc": pydantic_loc(tuple(e["loc"]))}
            problems.append(problem_from_pydantic(found, doc, filename, _allowed_keys))
    for path, value in doc.repeated:  # a repeated day: report what is wrong inside it too
        if len(path) == 2 and path[0] == "days":
            try:
                DayEntry.model_validate(value)
            except ValidationError as err:
                for e in err.errors():
                    problems.append(
                        problem_from_pydantic({**e, "loc": path + tuple(e["loc"])}, doc, filename, _allowed_keys)
                    )
    days = doc.data.get("days")
    if not isinstance(doc.data.get("campaign"), dict) or doc.data["campaign"].get("start") != "on_join":
        problems.extend(calendar_problems(days if isinstance(days, dict) else {}, doc, filename))
    problems.extend(folded_line_problems(doc, filename))
    if schedule is not None:
        problems.extend(acknowledgement_problems(schedule, doc, filename))
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ScheduleError(dedupe(problems))
    assert schedule is not None
    return LoadedSchedule(schedule, Path(filename), dict(doc.lines), tuple(length_warnings(schedule, doc, filename)))


def load_schedule(path: Path) -> LoadedSchedule:
    from campaign.series.files import MAX_SCHEDULE, file_problem

    text, problem = file_problem(
        path,
        path.name,
        max_bytes=MAX_SCHEDULE,
        fix_missing="run campaign commands in the campaign folder (the one holding schedule.yaml)",
    )
    if problem is not None:
        raise ScheduleError(problem)
    return parse_schedule(text, path.name)


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    """The keys allowed in the mapping at `loc` (for the "unknown key" fix)."""
    model: type[BaseModel] | None = {0: Schedule}.get(len(loc))
    if loc[:1] == ("campaign",):
        model = CampaignSettings
    elif loc[:1] == ("days",) and len(loc) == 2:  # a day (or a repeated day)
        model = DayEntry
    elif loc[:1] == ("acknowledgements",) and len(loc) == 2:
        model = Acknowledgement
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def day_number_of(text: str) -> int | None:
    """A DAY argument that is a day number ("5"): ASCII digits only, a few of them (a huge run of digits or a
    digit of another script is not a day number: it is reported as a bad date instead)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


def next_send_after(schedule: Schedule, moment: datetime) -> tuple[date, datetime] | None:
    for day in schedule.dates:
        at = schedule.send_at(day)
        if at > moment:
            return day, at
    return None
