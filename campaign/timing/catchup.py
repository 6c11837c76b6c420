"""Send times that did not go out on time: caught up after a pause, or recorded as skipped or missed.

`campaign resume --catch-up` moves the days that fell inside the pause to the next send times, one a day,
and the rest of the series after them (no reader gets two parts on one day); `campaign resume` records
them as skipped; the scheduler records a slot it could not send within the grace window as missed. The ledger
decides who is still owed each slot, so nothing here ever sends a day twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from campaign.ledger.issues import is_settled
from campaign.ledger.views import SchedulerLedger
from campaign.series.project import Project
from campaign.timing.logs import log
from campaign.timing.pause import record_shift, schedule_shift
from campaign.timing.slots import Slot, owed_count, sent_on, slots_for, subscriber_zones


def _zones(project: Project, store: SchedulerLedger) -> frozenset[str]:
    return subscriber_zones(store) if project.schedule.campaign.zoned else frozenset()


def postpone_after_pause(project: Project, store: SchedulerLedger, since: datetime, until: datetime) -> list[Slot]:
    """`campaign resume --catch-up`: the days whose send time fell inside the pause go out one a day from
    the next send time after `until`, and every later day moves later by as much, in order (the series may
    run past its last schedule.yaml date). Nothing is sent here: `campaign run` sends each at its new time.
    Returns the moved days' new slots (empty when no send time fell inside the pause)."""
    schedule, zones, shift = project.schedule, _zones(project, store), schedule_shift(store)
    held = sorted(
        {s.day for s in slots_for(schedule, zones, shift) if since <= s.at <= until and owed_count(store, s, zones)}
    )
    if not held:
        return []
    first = held[0]
    moved_from = sent_on(first, shift)
    target = until.astimezone(schedule.campaign.tz).date()
    while True:  # the first date on which every send time of `first` (each zone's) is still ahead
        trial = (*shift, (first, (target - moved_from).days))
        if all(s.at > until for s in slots_for(schedule, zones, trial) if s.day == first):
            break
        target += timedelta(days=1)
    record_shift(store, first, (target - moved_from).days)
    recorded = store.issue_states()
    for day in held:  # no longer skipped: scheduled again
        if (row := recorded.get(day)) is not None and is_settled(row.state):
            store.reschedule(day)
    new = schedule_shift(store)
    return [s for s in slots_for(schedule, zones, new) if s.day >= first]


def mark_skipped(project: Project, store: SchedulerLedger, since: datetime, until: datetime) -> list[Slot]:
    """Record the slots that fell inside a pause (resumed without --catch-up, or with --skip) as skipped."""
    zones = _zones(project, store)
    skipped = []
    for slot in slots_for(project.schedule, zones, schedule_shift(store)):
        if since <= slot.at <= until and owed_count(store, slot, zones):
            store.skip(
                slot.day,
                "paused during its send time",
                number=slot.number,
                subject=project.schedule.days[slot.day].subject,
            )
            skipped.append(slot)
    return skipped


def record_missed(project: Project, store: SchedulerLedger, slot: Slot, owed: int) -> bool:
    """The scheduler could not send `slot` within the grace window: log it and record it for `campaign
    status` as missed (unless nobody is owed it any more: False)."""
    if owed == 0:
        return False
    minutes = project.schedule.campaign.misfire_grace_minutes
    tz = project.schedule.campaign.tz
    log.warning(
        "%s MISSED: not sent within %d min of its send time (the scheduler was not running); %d "
        "subscriber(s) still owed it — send it with `campaign send %d`",
        slot.describe(tz),
        minutes,
        owed,
        slot.number,
    )
    store.miss(
        slot.day,
        f"{owed} owed — not sent within {minutes} min of its send time; send with `campaign send {slot.number}`",
        number=slot.number,
        subject=project.schedule.days[slot.day].subject,
    )
    return True


def record_skipped(project: Project, store: SchedulerLedger, slot: Slot, reason: str) -> None:
    """`slot` fell inside the series pause: log it, and `campaign status` shows it skipped."""
    log.warning(
        "%s SKIPPED: the series is paused (%s); `campaign resume --catch-up` would send it",
        slot.describe(project.schedule.campaign.tz),
        reason,
    )
    store.skip(
        slot.day,
        f"paused: {reason}",
        number=slot.number,
        subject=project.schedule.days[slot.day].subject,
    )
