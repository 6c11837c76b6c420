"""The series-wide pause: `campaign pause --reason "…"` holds every send until `campaign resume`.

Safe-messaging practice: when a suicide is in the news, hold awareness mail. The pause lives in the store
(state "pause" = {"since", "reason"}), so the scheduler, `campaign send` and every other process see it at
once; the sender refuses to send while it exists (PausedError). Each resume is kept in "pause_history", so
anyone can tell later — a restarted scheduler, `campaign status` — which send times fell inside a pause and
were skipped (or caught up, with `campaign resume --catch-up`).

This module is the pause as a value and its stored record only; what happens to the send times inside a
pause (catch up, mark skipped) is catchup.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from campaign.ledger.views import SchedulerLedger

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


def current_pause(store: SchedulerLedger) -> PauseWindow | None:
    value = store.get_state(PAUSE_KEY)
    if not value:
        return None
    return PauseWindow(datetime.fromisoformat(value["since"]), None, value.get("reason") or "")


def pause_windows(store: SchedulerLedger) -> list[PauseWindow]:
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


def pause_series(store: SchedulerLedger, reason: str, *, now: datetime) -> tuple[PauseWindow, bool]:
    """Start the pause; returns it and whether this call started it (False: it was already paused)."""
    existing = current_pause(store)
    if existing:
        return existing, False
    now = now.replace(microsecond=0)
    store.set_state(PAUSE_KEY, {"since": now.isoformat(), "reason": reason})
    return PauseWindow(now, None, reason), True


def end_pause(store: SchedulerLedger, *, now: datetime, catch_up: bool) -> PauseWindow | None:
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


SHIFT_KEY = "catch_up_shift"  # [[first day held, calendar days later], …]: what each --catch-up moved


def schedule_shift(store: SchedulerLedger) -> tuple[tuple[date, int], ...]:
    """Every catch-up's move of the series, oldest first (see catchup.postpone_after_pause)."""
    return tuple((date.fromisoformat(start), int(days)) for start, days in store.get_state(SHIFT_KEY) or [])


def record_shift(store: SchedulerLedger, start: date, days: int) -> None:
    history = [[d.isoformat(), n] for d, n in schedule_shift(store)]
    store.set_state(SHIFT_KEY, [*history, [start.isoformat(), days]])
