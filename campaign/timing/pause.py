"""The series-wide pause: `campaign pause --reason "…"` holds every send until `campaign resume`.

Safe-messaging practice: when a suicide is in the news, hold awareness mail. The pause lives in the store
(state "pause" = {"since", "reason"}), so the scheduler, `campaign send` and every other process see it at
once; the sender refuses to send while it exists (PausedError). Each resume is kept in "pause_history", so
anyone can tell later — a restarted scheduler, `campaign status` — which send times fell inside a pause and
were skipped (or caught up, with `campaign resume --catch-up`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from campaign.clock import utcnow
from campaign.ledger.store import Store

PAUSE_KEY = "pause"
HISTORY_KEY = "pause_history"


@dataclass(frozen=True)
class PauseWindow:
    since: datetime
    until: datetime | None  # None: still paused
    reason: str
    catch_up: bool = False  # resumed with --catch-up: its send times were sent after all

    def covers(self, instant: datetime) -> bool:
        return self.since <= instant and (self.until is None or instant <= self.until)


def current_pause(store: Store) -> PauseWindow | None:
    value = store.get_state(PAUSE_KEY)
    if not value:
        return None
    return PauseWindow(datetime.fromisoformat(value["since"]), None, value.get("reason") or "")


def pause_windows(store: Store) -> list[PauseWindow]:
    """Every pause, the current one last (until=None)."""
    windows = [
        PauseWindow(
            datetime.fromisoformat(w["since"]),
            datetime.fromisoformat(w["until"]),
            w.get("reason") or "",
            bool(w.get("catch_up")),
        )
        for w in store.get_state(HISTORY_KEY) or []
    ]
    now = current_pause(store)
    return windows + ([now] if now else [])


def skipped_by_pause(windows: list[PauseWindow], instant: datetime) -> PauseWindow | None:
    """The pause that made a send time be skipped: it fell inside it, and the pause was not caught up."""
    return next((w for w in windows if not w.catch_up and w.covers(instant)), None)


def pause_series(store: Store, reason: str, *, now: datetime) -> tuple[PauseWindow, bool]:
    """Start the pause; returns it and whether this call started it (False: it was already paused)."""
    existing = current_pause(store)
    if existing:
        return existing, False
    now = now.replace(microsecond=0)
    store.set_state(PAUSE_KEY, {"since": now.isoformat(), "reason": reason})
    return PauseWindow(now, None, reason), True


def end_pause(store: Store, *, now: datetime, catch_up: bool) -> PauseWindow | None:
    """End the pause and record it; returns the closed window, or None when the series was not paused.

    The window is written to the history *before* the pause is lifted, so a running scheduler never sees a
    moment where a send time inside the pause looks merely overdue (and sends it).
    """
    existing = current_pause(store)
    if existing is None:
        return None
    closed = PauseWindow(existing.since, now, existing.reason, catch_up)
    history = store.get_state(HISTORY_KEY) or []
    history.append(
        {"since": closed.since.isoformat(), "until": now.isoformat(), "reason": closed.reason, "catch_up": catch_up}
    )
    store.set_state(HISTORY_KEY, history)
    store.delete_state(PAUSE_KEY)
    return closed


def catch_up_pause(
    project,
    store: Store,
    provider,
    since: datetime,
    until: datetime,
    *,
    stop=None,
    clock: Callable[[], datetime] = utcnow,
) -> list:
    """Send the slots that fell inside a pause (`campaign resume --catch-up`); returns (slot, report) pairs."""
    from campaign.delivery.sender import Sender  # here: timeline imports this module
    from campaign.timing.slots import owed_count, slots_for, subscriber_zones

    zones = subscriber_zones(store) if project.schedule.campaign.delivery == "local_time" else frozenset()
    done = []
    for slot in slots_for(project.schedule, zones):
        if not since <= slot.at <= until or owed_count(store, slot, zones) == 0:
            continue
        if stop is not None and stop.is_set():
            break
        sender = Sender(project, store, provider, clock=clock, stop=stop)
        done.append((slot, sender.send_day(slot.day, audience=slot.audience(zones))))
    return done


def mark_skipped(project, store: Store, since: datetime, until: datetime) -> list:
    """Record the slots that fell inside a pause (resumed without --catch-up) as skipped."""
    from campaign.timing.slots import owed_count, slots_for, subscriber_zones  # here: timeline imports this module

    zones = subscriber_zones(store) if project.schedule.campaign.delivery == "local_time" else frozenset()
    skipped = []
    for slot in slots_for(project.schedule, zones):
        if since <= slot.at <= until and owed_count(store, slot, zones):
            store.set_issue_state(
                slot.day,
                "skipped",
                "paused during its send time",
                number=slot.number,
                subject=project.schedule.days[slot.day].subject,
            )
            skipped.append(slot)
    return skipped
