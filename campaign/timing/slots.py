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

Nothing here sends: the scheduler decides from these facts; days.py turns them into day states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaign.clock import zone_of
from campaign.ledger.states import SENT
from campaign.ledger.subscribers import Audience
from campaign.ledger.views import SchedulerLedger
from campaign.series.schedule import Schedule
from campaign.timing.evergreen import evergreen_slots, window


@dataclass(frozen=True)
class Slot:
    day: date
    number: int
    at: datetime  # the send instant (aware, UTC)
    campaign_at: datetime  # the day's send instant in the campaign's zone (the owed cutoff)
    zones: frozenset[str] | None = None  # None: everyone (campaign time); else these subscriber zones...
    default_group: bool = True  # ...plus subscribers without a usable zone
    tail: int = 0  # n > 0: the n-th send time after the last day, only for parts a reader's own pause postponed
    series: tuple[date, ...] = ()  # personal_pause: postpone — the series' days (empty: skip)
    from_start: bool = False  # late_joiners: from_start — late joiners are behind from part 1 (positions.py)
    evergreen: bool = False  # start: on_join — a send time of readers' own parts (evergreen.py)

    @property
    def key(self) -> str:
        if self.evergreen:  # one per instant, whatever the parts are: an added part never re-runs a send time
            return f"send time at {self.at:%Y-%m-%dT%H:%MZ}"
        if self.tail:
            return f"after day {self.day.isoformat()} +{self.tail} at {self.at:%Y-%m-%dT%H:%MZ}"
        return f"day {self.day.isoformat()} at {self.at:%Y-%m-%dT%H:%MZ}"

    @property
    def local(self) -> bool:
        return self.zones is not None

    def describe(self, tz: ZoneInfo) -> str:
        """ "day 5, 2027-09-05 09:00 EDT" (+ "for Pacific/Auckland" with local-time delivery)."""
        text = f"day {self.number}, {self.at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        if self.evergreen:
            text = f"send time {self.at.astimezone(tz):%a %Y-%m-%d %H:%M %Z} (each reader's next part)"
        elif self.tail:
            text = f"postponed parts (+{self.tail} after the last day), {self.at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        if self.local:
            who = sorted(self.zones or ())
            if self.default_group:
                who.append("no time zone")
            shown = ", ".join(who[:3]) + (f" and {len(who) - 3} more" if len(who) > 3 else "")
            text += f" for {shown}" if who else ""
        return text

    def audience(self, known_zones: frozenset[str]) -> Audience | None:
        """Who this slot sends to, as a plain value the ledger turns into SQL (None: everyone owed)."""
        if self.zones is None:
            return None
        return Audience(
            zones=self.zones,
            others=self.default_group,
            known_zones=known_zones if self.default_group else frozenset(),
            joined_by=self.at if self.at < self.campaign_at else None,
        )


def subscriber_zones(store: SchedulerLedger) -> frozenset[str]:
    """The readable time zones of active subscribers (local-time delivery groups by them)."""
    return frozenset(n for n in store.subscriber_timezones() if zone_of(n) is not None)


Shift = tuple[tuple[date, int], ...]  # (from this day on, send so many calendar days later): a caught-up pause


def sent_on(day: date, shift: Shift = ()) -> date:
    """The calendar date `day` is sent on: its schedule date, moved later by every catch-up that covers it."""
    return day + timedelta(days=sum(days for start, days in shift if day >= start))


Tail = int | tuple[date, date]  # send times after the last day; start: on_join — the window (evergreen.py)


def slots_for(
    schedule: Schedule, zones: frozenset[str] = frozenset(), shift: Shift = (), *, tail: Tail = 0
) -> list[Slot]:
    """Every slot of the series, earliest first (moved later from a caught-up pause on, see catchup.py; the
    owed cutoff stays the day's own send time in schedule.yaml), then `tail` more send times after the last
    day, one a day, for the parts readers' own pauses postponed (ledger/postponed.py). An evergreen series
    (start: on_join) has only the send times of the window `tail`."""
    if schedule.campaign.on_join:
        return evergreen_slots(schedule, zones, tail if isinstance(tail, tuple) else None)
    assert isinstance(tail, int)
    out: list[Slot] = []
    local = schedule.campaign.local_time
    series = tuple(schedule.dates) if schedule.campaign.postpones else ()
    for day in schedule.dates:
        on = sent_on(day, shift)
        out += _day_slots(schedule, day, on, schedule.send_clock(day), zones if local else None, series)
    if tail and series:
        last = schedule.dates[-1]
        last_on, clock = sent_on(last, shift), schedule.campaign.send_clock
        for n in range(1, tail + 1):
            out += _day_slots(schedule, last, last_on + timedelta(days=n), clock, zones if local else None, series, n)
    return sorted(out, key=lambda s: (s.at, s.day, s.tail))


def _day_slots(
    schedule: Schedule,
    day: date,
    on: date,
    clock: time,
    zones: frozenset[str] | None,
    series: tuple[date, ...],
    tail: int = 0,
) -> list[Slot]:
    """One day's slots on the calendar date `on`: one for everyone, or one per distinct local instant."""
    number = schedule.day_number(day)
    from_start = bool(series) and schedule.campaign.from_start
    cutoff = schedule.send_at(day).astimezone(UTC)
    campaign_at = cutoff if on == day else datetime.combine(on, clock, schedule.campaign.tz).astimezone(UTC)
    if zones is None:
        return [Slot(day, number, campaign_at, cutoff, tail=tail, series=series, from_start=from_start)]
    groups: dict[datetime, set[str]] = {campaign_at: set()}
    for name in zones:
        at = datetime.combine(on, clock, tzinfo=zone_of(name)).astimezone(UTC)
        groups.setdefault(at, set()).add(name)
    return [
        Slot(
            day,
            number,
            at,
            cutoff,
            frozenset(names),
            default_group=at == campaign_at,
            tail=tail,
            series=series,
            from_start=from_start,
        )
        for at, names in groups.items()
    ]


def tail_needed(schedule: Schedule, store: SchedulerLedger, shift: Shift, now: datetime) -> Tail:
    """How many send times after the last day the postponed parts need: those already passed, plus the most
    parts any reader still has postponed (so a tail slot keeps its place as the parts go out), plus one for
    the zones ahead of the campaign's (local time). An evergreen series: the window of send times to plan."""
    if schedule.campaign.on_join:
        return window(schedule, store, now)
    if not schedule.campaign.postpones or not schedule.dates:
        return 0
    behind = store.most_behind(schedule.dates)
    last = schedule.dates[-1]
    first_tail = datetime.combine(sent_on(last, shift) + timedelta(days=1), schedule.campaign.send_clock)
    first_tail = first_tail.replace(tzinfo=schedule.campaign.tz)
    local = 1 if schedule.campaign.local_time else 0
    waiting = 0  # from_start: readers not started yet need every part, from their first send time on
    if schedule.campaign.from_start:
        joins = store.last_waiting_join(schedule.dates, joined_after=schedule.send_at(schedule.dates[0]))
        if joins is not None:
            waiting = max(0, (joins - first_tail).days + 2) + len(schedule.dates) + local
    if not behind and not waiting:
        return 0
    passed = max(0, (now - first_tail).days + 1) if now >= first_tail else 0
    return max(passed + behind + local if behind else 0, waiting)


def owed_count(store: SchedulerLedger, slot: Slot, known_zones: frozenset[str]) -> int:
    """Subscribers still owed this slot, as of its send time. Someone paused then is not owed it — unless their
    parts are postponed (personal_pause: postpone): the slot's send records theirs for later. A tail slot is
    owed to readers still behind and not paused, until its send has run (then only to parts it left READY)."""
    audience = slot.audience(known_zones)
    from_start = slot.from_start
    if slot.tail:
        ready_only = store.tail_done(slot.key)
        return store.count_behind(
            slot.series, at=slot.at, audience=audience, ready_only=ready_only, from_start=from_start
        )
    cutoff = max(slot.campaign_at, slot.at) if from_start else slot.campaign_at  # from_start: joined by this send
    return store.count_owed(slot.day, cutoff, at=slot.at, audience=audience, with_paused=bool(slot.series))


def sent_count(store: SchedulerLedger, day: date) -> int:
    return store.count_in_state(day, SENT)
