"""Where readers are, for `campaign status`: readers per part, who is behind, the last date a part goes out,
and one reader's parts. Read from the one per-reader position the ledger keeps (ledger/positions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from campaign.clock import zone_of
from campaign.ledger.states import POSTPONED, QUEUED, READY, SENT
from campaign.ledger.subscribers import Subscriber
from campaign.ledger.views import SchedulerLedger
from campaign.series.schedule import Schedule
from campaign.timing.evergreen import days_per_part
from campaign.timing.pause import schedule_shift
from campaign.timing.slots import sent_on


@dataclass(frozen=True)
class Overview:
    total: int  # parts in the series
    by_parts: dict[int, int]  # parts had → active readers
    behind: int  # readers with parts owed later than the calendar (their own pause, or joined late)
    waiting: int  # late joiners (from_start) who have not had a part yet
    last_date: date | None  # the last date any reader will get a part (an estimate for those behind)


def _today(schedule: Schedule, now: datetime) -> date:
    return now.astimezone(schedule.campaign.tz).date()


def overview(schedule: Schedule, store: SchedulerLedger, now: datetime) -> Overview:
    days = schedule.dates
    if not days:
        return Overview(0, {}, 0, 0, None)
    if schedule.campaign.on_join:
        return _evergreen_overview(schedule, store, now)
    readers, _ = store.behind_summary(days)
    end = sent_on(days[-1], schedule_shift(store))
    last = end
    if most := store.most_behind(days):  # their backlog stays as it is until the last day, then one a day
        last = max(end, _today(schedule, now)) + timedelta(days=most)
    waiting = 0
    if schedule.campaign.from_start:
        first_at = schedule.send_at(days[0])
        waiting = store.count_waiting(days, joined_after=first_at, joined_by=now)
        joins = store.last_waiting_join(days, joined_after=first_at)
        if joins is not None:  # part 1 at their first send time after joining, then one a day
            start = joins.astimezone(schedule.campaign.tz)
            first = start.date() + timedelta(days=0 if start.time() <= schedule.campaign.send_clock else 1)
            last = max(last, first + timedelta(days=len(days) - 1))
    return Overview(len(days), store.part_counts(days), readers + waiting, waiting, last)


def _evergreen_overview(schedule: Schedule, store: SchedulerLedger, now: datetime) -> Overview:
    """start: on_join — every reader with parts to come is "behind"; the last date is an estimate from the
    most parts anyone still has ahead, and from the last join of those not started yet."""
    days, c = schedule.dates, schedule.campaign
    readers, _ = store.behind_summary(days)
    waiting = store.count_waiting(days, joined_after=datetime.min.replace(tzinfo=UTC), joined_by=now)
    step = days_per_part(schedule)
    last = None
    if most := store.most_behind(days):
        last = _today(schedule, now) + timedelta(days=most * step)
    _, joins = store.waiting_joins(days)
    if joins is not None:
        first = _next_send(schedule, c.tz, joins).date()
        last = max(last or first, first + timedelta(days=(len(days) - 1) * step))
    return Overview(len(days), store.part_counts(days), readers + waiting, waiting, last)


@dataclass(frozen=True)
class PartLine:
    number: int
    day: date
    status: str  # sent, next, postponed, ready, queued, owed, … or "not owed" (joined after it, next_day mode)
    when: datetime | None  # sent at, or when it is expected


def _next_send(schedule: Schedule, zone, after: datetime) -> datetime:
    """The first send time after `after` in `zone`, on a send day (start: on_join's `send_days`)."""
    clock, weekdays = schedule.campaign.send_clock, schedule.campaign.weekdays
    mine = after.astimezone(zone)
    on = mine.date() if datetime.combine(mine.date(), clock, tzinfo=zone) > mine else mine.date() + timedelta(days=1)
    while on.weekday() not in weekdays:
        on += timedelta(days=1)
    return datetime.combine(on, clock, tzinfo=zone)


def _following(schedule: Schedule, zone, when: datetime) -> datetime:
    """The send time of a reader's part after one at `when`: `days_between` later, on a send day."""
    gap = timedelta(days=schedule.campaign.days_between)
    return _next_send(schedule, zone, when.astimezone(zone) + gap - timedelta(minutes=1))


def reader_parts(schedule: Schedule, store: SchedulerLedger, who: Subscriber, now: datetime) -> list[PartLine]:
    """One reader's parts in order: what they had (and when), the next one and when it is expected."""
    days = schedule.dates
    rows = store.reader_rows(who.id, days)
    local = schedule.campaign.delivery == "local_time"
    zone = (zone_of(who.timezone) if local and who.timezone else None) or schedule.campaign.tz
    from_start = schedule.campaign.from_start
    behind = any(status in (POSTPONED, READY) for status, _ in rows.values())
    waiting = from_start and days[0] not in rows and who.joined_at > schedule.send_at(days[0])
    expected = _next_send(schedule, zone, max(now, who.joined_at))
    out: list[PartLine] = []
    shift = schedule_shift(store)
    for number, day in enumerate(days, 1):
        status, updated = rows.get(day, (None, None))
        if status == SENT:
            out.append(PartLine(number, day, SENT, updated))
            continue
        if status in (POSTPONED, READY) or (waiting and status is None):
            out.append(PartLine(number, day, READY if status == READY else POSTPONED, None))
            continue
        at = datetime.combine(sent_on(day, shift), schedule.campaign.send_clock, tzinfo=zone)
        if schedule.campaign.on_join:
            at = expected  # (an evergreen part has no date of its own)
        if status is None and not behind and not waiting and who.joined_at > schedule.send_at(day):
            out.append(PartLine(number, day, "not owed (joined after it)", None))
            continue
        out.append(PartLine(number, day, status or ("owed" if at <= now else "scheduled"), at))
    # The reader's next part: the earliest not had; those behind get one a day from the next send time.
    pending = [p for p in out if p.status in (READY, POSTPONED, "scheduled", "owed", QUEUED)]
    if pending:
        first = pending[0]
        when = expected if first.status in (READY, POSTPONED, "owed") else first.when
        out[first.number - 1] = PartLine(first.number, first.day, f"next ({first.status})", when)
        if behind or waiting:  # the rest follow one a day, in order
            step = when or expected
            for p in pending[1:]:
                step = _following(schedule, zone, step)
                out[p.number - 1] = PartLine(p.number, p.day, p.status, step)
    return out
