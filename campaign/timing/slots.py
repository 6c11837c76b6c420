"""When each day goes out, to whom, and how far each day has got.

A *slot* is one send time of one day for one group of subscribers:
- `delivery: campaign_time` — one slot per day, everyone, at the day's send time in the campaign's zone;
- `delivery: local_time` — one slot per distinct instant: subscribers whose zones put the send time (09:00)
  at the same instant share a slot (Pacific/Auckland's comes first); subscribers without a zone, or with
  one we cannot read, go with the campaign's zone. zoneinfo does the DST arithmetic (New Zealand moves
  to NZDT on 26 September 2027: 09:00 is then 20:00 UTC the day before instead of 21:00).

Who is owed a slot follows the ledger rule "joined before the send time": the sender's cutoff is the
campaign's send time, and a slot earlier than that (east of the campaign's zone) narrows it to its own
instant — someone in Auckland who joins after their 09:00 starts with the next day, like everyone else.
(West of the campaign's zone the campaign's time stays the cutoff: the late joiner starts the next day.)

Nothing here sends: the scheduler decides from these facts, `campaign status` displays them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select

from campaign.ledger.store import ACTIVE, SENT, Store, deliveries, subscribers
from campaign.series.schedule import Schedule
from campaign.timing.pause import PauseWindow, skipped_by_pause


@dataclass(frozen=True)
class Slot:
    day: date
    number: int
    at: datetime  # the send instant (aware, UTC)
    campaign_at: datetime  # the day's send instant in the campaign's zone (the owed cutoff)
    zones: frozenset[str] | None = None  # None: everyone (campaign time); else these subscriber zones...
    default_group: bool = True  # ...plus subscribers without a usable zone

    @property
    def key(self) -> str:
        return f"day {self.day.isoformat()} at {self.at:%Y-%m-%dT%H:%MZ}"

    @property
    def local(self) -> bool:
        return self.zones is not None

    def describe(self, tz: ZoneInfo) -> str:
        """ "day 5, 2027-09-05 09:00 EDT" (+ "for Pacific/Auckland" with local-time delivery)."""
        text = f"day {self.number}, {self.at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        if self.local:
            who = sorted(self.zones or ())
            if self.default_group:
                who.append("no time zone")
            shown = ", ".join(who[:3]) + (f" and {len(who) - 3} more" if len(who) > 3 else "")
            text += f" for {shown}" if who else ""
        return text

    def audience(self, known_zones: frozenset[str]):
        """The SQLAlchemy condition on subscribers this slot sends to (None: everyone the sender owes)."""
        if self.zones is None:
            return None
        who = [subscribers.c.timezone.in_(sorted(self.zones))]
        if self.default_group:
            who += [subscribers.c.timezone.is_(None), subscribers.c.timezone.notin_(sorted(known_zones))]
        condition = or_(*who)
        if self.at < self.campaign_at:
            condition = and_(condition, subscribers.c.joined_at <= self.at)
        return condition


@lru_cache(maxsize=1024)  # ZoneInfo keeps only a few zones strongly cached: re-reading tzdata is slow
def zone_of(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def subscriber_zones(store: Store) -> frozenset[str]:
    """The readable time zones of active subscribers (local-time delivery groups by them)."""
    with store.engine.connect() as conn:
        names = conn.execute(
            select(subscribers.c.timezone)
            .distinct()
            .where(subscribers.c.status == ACTIVE, subscribers.c.timezone.is_not(None))
        ).scalars()
        return frozenset(n for n in names if zone_of(n) is not None)


def day_clock(schedule: Schedule, day: date) -> time:
    hour, minute = (int(x) for x in (schedule.days[day].send_time or schedule.campaign.send_time).split(":"))
    return time(hour, minute)


def slots_for(schedule: Schedule, zones: frozenset[str] = frozenset()) -> list[Slot]:
    """Every slot of the series, earliest first."""
    out: list[Slot] = []
    local = schedule.campaign.delivery == "local_time"
    for day in schedule.dates:
        number = schedule.day_number(day)
        campaign_at = schedule.send_at(day).astimezone(UTC)
        if not local:
            out.append(Slot(day, number, campaign_at, campaign_at))
            continue
        groups: dict[datetime, set[str]] = {campaign_at: set()}
        for name in zones:
            at = datetime.combine(day, day_clock(schedule, day), tzinfo=zone_of(name)).astimezone(UTC)
            groups.setdefault(at, set()).add(name)
        for at, names in groups.items():
            out.append(Slot(day, number, at, campaign_at, frozenset(names), default_group=at == campaign_at))
    return sorted(out, key=lambda s: (s.at, s.day))


def owed_count(store: Store, slot: Slot, known_zones: frozenset[str]) -> int:
    """Subscribers still owed this slot, as of its send time (someone paused then is not owed it)."""
    query = store.owed_query(slot.day, slot.campaign_at, at=slot.at)
    audience = slot.audience(known_zones)
    if audience is not None:
        query = query.where(audience)
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()


def sent_count(store: Store, day: date) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(deliveries.c.day == day, deliveries.c.status == SENT)
        ).scalar_one()


# -- how far each day has got (campaign status, the scheduler's bookkeeping) ----------------------------------
@dataclass
class DayView:
    day: date
    number: int
    at: datetime  # the campaign's send instant
    slots: list[tuple[Slot, int]] = field(default_factory=list)  # (slot, owed)
    state: str = "scheduled"  # scheduled | due | sending | sent | missed | skipped
    note: str | None = None

    @property
    def owed(self) -> int:
        return sum(owed for _, owed in self.slots)


def slot_state(slot: Slot, owed: int, *, now: datetime, grace: timedelta, windows: list[PauseWindow]) -> str:
    if owed == 0:
        return "done"
    if slot.at > now:
        return "scheduled"
    if skipped_by_pause(windows, slot.at):
        return "skipped"
    if now > slot.at + grace:
        return "missed"
    return "due"


def day_views(
    schedule: Schedule, store: Store, *, now: datetime, windows: list[PauseWindow], zones: frozenset[str] | None = None
) -> list[DayView]:
    """Each day's state, derived from the ledger, the schedule, the pause history and the clock. A state
    the scheduler recorded (missed, skipped) stands while anyone is still owed the day: the scheduler may
    have run on another clock (a test, the rehearsal) than the one reading it now."""
    if zones is None:
        zones = subscriber_zones(store) if schedule.campaign.delivery == "local_time" else frozenset()
    grace = timedelta(minutes=schedule.campaign.misfire_grace_minutes)
    recorded = store.issue_states()
    views = {d: DayView(d, schedule.day_number(d), schedule.send_at(d)) for d in schedule.dates}
    for slot in slots_for(schedule, zones):
        views[slot.day].slots.append((slot, owed_count(store, slot, zones)))
    for view in views.values():
        states = [slot_state(s, owed, now=now, grace=grace, windows=windows) for s, owed in view.slots]
        row = recorded.get(view.day)
        view.state, view.note = _day_state(view, states, row, store, now, windows)
    return [views[d] for d in schedule.dates]


def _day_state(
    view: DayView, states: list[str], row, store: Store, now: datetime, windows: list[PauseWindow]
) -> tuple[str, str | None]:
    if store.lock_holder(f"send:{view.day}"):
        return "sending", None
    if all(s == "done" for s in states):
        if sent_count(store, view.day):
            return "sent", None
        if all(slot.at > now for slot, _ in view.slots):
            return "scheduled", None
        return "sent", "nobody was owed it"
    hint = f"{view.owed} owed — send with `campaign send {view.number}`"
    if "missed" in states:
        return "missed", hint
    if "skipped" in states:
        pause = next((skipped_by_pause(windows, s.at) for s, _ in view.slots if skipped_by_pause(windows, s.at)), None)
        return "skipped", f"paused: {pause.reason}" if pause else None
    if row is not None and row.state in ("missed", "skipped"):
        return row.state, row.note or (hint if row.state == "missed" else None)
    if "due" in states:
        return "due", None
    if "done" in states:
        done = states.count("done")
        return "sending", f"{done} of {len(states)} send times done (local time)"
    return "scheduled", None


def next_slot(views: list[DayView], now: datetime) -> Slot | None:
    """The next send time anyone is owed (or, before anyone has subscribed, simply the next one)."""
    future = sorted(
        ((slot, owed, v.state) for v in views for slot, owed in v.slots if slot.at > now), key=lambda item: item[0].at
    )
    return next(
        (slot for slot, owed, _ in future if owed),
        next((slot for slot, _, state in future if state == "scheduled"), None),
    )
