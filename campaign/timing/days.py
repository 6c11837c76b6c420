"""How far each day has got: scheduled, due, sending, sent, missed or skipped (`campaign status`).

The state of a day is computed from facts passed in — each slot with how many subscribers are still owed
it, how many were sent the day, whether a send of it holds its lock, the pause history, the state the
scheduler recorded and the clock — so the rules live in one place and read no database:

    slot:  owed 0 → done;  at > now → scheduled;  inside a pause → skipped;  now > at + grace → missed;  → due
    day:   send lock held → sending;  every slot done → incomplete while failed or unknown deliveries wait,
           else sent (or scheduled while all still ahead);
           any slot missed → missed;  any skipped → skipped;  a recorded missed/skipped stands while owed;
           any due → due;  some slots done → sending (local time);  otherwise scheduled

`day_views` gathers those facts from the store and the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from campaign.ledger.issues import Shown, is_settled
from campaign.ledger.views import SchedulerLedger
from campaign.series.schedule import Schedule
from campaign.timing.pause import PauseWindow, schedule_shift, skipped_by_pause
from campaign.timing.slots import Slot, owed_count, sent_count, sent_on, slots_for, subscriber_zones


@dataclass
class DayView:
    day: date
    number: int
    at: datetime  # the campaign's send instant (moved by a caught-up pause)
    slots: list[tuple[Slot, int]] = field(default_factory=list)  # (slot, owed)
    state: Shown = Shown.SCHEDULED
    note: str | None = None

    @property
    def owed(self) -> int:
        return sum(owed for _, owed in self.slots)


@dataclass(frozen=True)
class DayFacts:
    """What the ledger knows about one day, beyond its slots' owed counts."""

    sent: int = 0  # deliveries of the day marked sent
    sending: bool = False  # a send of it holds its lock right now
    recorded_state: str | None = None  # what the scheduler recorded: missed, skipped, sent
    recorded_note: str | None = None
    waiting: int = 0  # failed and unknown deliveries waiting for an operator (ledger/pending.py)


def slot_state(slot: Slot, owed: int, *, now: datetime, grace: timedelta, windows: list[PauseWindow]) -> Shown:
    if owed == 0:
        return Shown.DONE
    if slot.at > now:
        return Shown.SCHEDULED
    if skipped_by_pause(windows, slot.at):
        return Shown.SKIPPED
    if now > slot.at + grace:
        return Shown.MISSED
    return Shown.DUE


def day_state(
    view: DayView, facts: DayFacts, *, now: datetime, grace: timedelta, windows: list[PauseWindow]
) -> tuple[Shown, str | None]:
    """(state, note) of one day; see the table in the module docstring."""
    states = [slot_state(s, owed, now=now, grace=grace, windows=windows) for s, owed in view.slots]
    if facts.sending:
        return Shown.SENDING, None
    if all(s == Shown.DONE for s in states):
        if facts.waiting:  # never "sent" while deliveries wait for --retry-failed / --resend-unknown
            return Shown.INCOMPLETE, f"{facts.waiting} waiting — see below"
        if facts.sent:
            return Shown.SENT, None
        if all(slot.at > now for slot, _ in view.slots):
            return Shown.SCHEDULED, None
        return Shown.SENT, "nobody was owed it"
    hint = f"{view.owed} owed — send with `campaign send {view.number}`"
    if Shown.MISSED in states:
        return Shown.MISSED, hint
    if Shown.SKIPPED in states:
        pause = next((p for p in (skipped_by_pause(windows, s.at) for s, _ in view.slots) if p), None)
        return Shown.SKIPPED, f"paused: {pause.reason}" if pause else None
    if is_settled(facts.recorded_state):
        recorded = Shown(str(facts.recorded_state))
        return recorded, facts.recorded_note or (hint if recorded == Shown.MISSED else None)
    if Shown.DUE in states:
        return Shown.DUE, None
    if Shown.DONE in states:
        done = states.count(Shown.DONE)
        return Shown.SENDING, f"{done} of {len(states)} send times done (local time)"
    return Shown.SCHEDULED, None


def day_views(
    schedule: Schedule,
    store: SchedulerLedger,
    *,
    now: datetime,
    windows: list[PauseWindow],
    zones: frozenset[str] | None = None,
) -> list[DayView]:
    """Each day's state, from the ledger, the schedule, the pause history and the clock. A state the
    scheduler recorded (missed, skipped) stands while anyone is still owed the day: the scheduler may have
    run on another clock (a test, the rehearsal) than the one reading it now."""
    if zones is None:
        zones = subscriber_zones(store) if schedule.campaign.zoned else frozenset()
    grace = timedelta(minutes=schedule.campaign.misfire_grace_minutes)
    recorded = store.issue_states()
    shift = schedule_shift(store)
    views = {d: DayView(d, schedule.day_number(d), schedule.send_at(d)) for d in schedule.dates}
    for slot in slots_for(schedule, zones, shift):
        views[slot.day].slots.append((slot, owed_count(store, slot, zones)))
    for view in views.values():  # moved by a caught-up pause: shown at the new time
        if sent_on(view.day, shift) != view.day:
            view.at = datetime.combine(sent_on(view.day, shift), view.at.timetz())
    waiting = store.waiting_by_day(list(views))
    for view in views.values():
        row = recorded.get(view.day)
        facts = DayFacts(
            sent=sent_count(store, view.day),
            sending=bool(store.lock_holder(f"send:{view.day}") or store.live_workers(view.day)),
            recorded_state=row.state if row is not None else None,
            recorded_note=row.note if row is not None else None,
            waiting=waiting[view.day].total if view.day in waiting else 0,
        )
        view.state, view.note = day_state(view, facts, now=now, grace=grace, windows=windows)
    return [views[d] for d in schedule.dates]


def next_slot(views: list[DayView], now: datetime) -> Slot | None:
    """The next send time anyone is owed (or, before anyone has subscribed, simply the next one)."""
    future = sorted(
        ((slot, owed, v.state) for v in views for slot, owed in v.slots if slot.at > now), key=lambda item: item[0].at
    )
    return next(
        (slot for slot, owed, _ in future if owed),
        next((slot for slot, _, state in future if state == "scheduled"), None),
    )
