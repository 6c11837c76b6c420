"""One slot's send inside `campaign run`: the welcomes first, then the day, and what came of it.

The outcome tells the scheduler what to do next — the slot is done (sent), skipped (the series is
paused), to be tried again (after a delay, or after the next valid edit: `retry_after` None), or stopped
(the scheduler is stopping). Every expected failure is logged here; an unexpected one propagates to the
scheduler, which logs it and tries again within the grace window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from campaign.alerts.center import Alerts
from campaign.delivery.sender import Sender, SendReport
from campaign.errors import AuthenticationFailed, CampaignError, InvalidInput, LockHeld, PausedError
from campaign.ledger.views import SchedulerLedger
from campaign.providers.base import Provider
from campaign.series.project import Project
from campaign.timing.holds import credentials_refused
from campaign.timing.logs import log, log_problems, log_report
from campaign.timing.pause import current_pause
from campaign.timing.slots import Slot

RETRY_AFTER = timedelta(minutes=5)  # a send that failed as a whole (provider down) is tried again...
LOCKED_RETRY = timedelta(minutes=1)  # ...or one another process is sending right now
FIRST_BACKOFF = timedelta(minutes=1)  # an unexpected error: the next tick, then 1, 2, 4 … minutes


def retry_after_error(failures: int, now: datetime, grace_ends: datetime) -> datetime:
    """When to try a slot again after its `failures`-th unexpected error in a row: at the next tick, then
    after 1, 2, 4 … minutes (at most RETRY_AFTER), never later than just before its grace window ends."""
    delay = min(FIRST_BACKOFF * (2 ** (failures - 2)), RETRY_AFTER) if failures > 1 else timedelta(0)
    return max(now, min(now + delay, grace_ends - timedelta(seconds=1)))


@dataclass
class RunSummary:
    """What a `campaign run` did (printed at the end of --once and the rehearsal)."""

    sent_slots: int = 0
    messages: int = 0
    missed: list[Slot] = field(default_factory=list)
    skipped: list[Slot] = field(default_factory=list)
    welcomed: int = 0
    stopped: bool = False


@dataclass(frozen=True)
class Outcome:
    kind: Literal["done", "paused", "retry", "stopped"]  # done: the send ran to its end
    retry_after: timedelta | None = None  # kind "retry": None means after the next valid edit
    reason: str = ""  # kind "paused": the pause's reason
    report: SendReport | None = None


def send_slot(
    project: Project,
    store: SchedulerLedger,
    slot: Slot,
    zones: frozenset[str],
    *,
    provider: Callable[[], Provider],
    welcome: Callable[[], None] | None,
    clock: Callable[[], datetime],
    stop: threading.Event,
) -> Outcome:
    label = slot.describe(project.schedule.campaign.tz)
    pause = current_pause(store)
    if pause is not None:
        return Outcome("paused", reason=pause.reason)
    try:
        sending_through = provider()
        if welcome is not None:
            welcome()  # late joiners: their welcome comes first
        sender = Sender(project, store, sending_through, clock=clock, stop=stop)
        audience = slot.audience(zones)
        if slot.tail:  # after the last day: only parts postponed by readers' own pauses
            c = project.schedule.campaign  # and late joiners who have not started yet (start: on_join: everyone)
            store.advance_tail(
                slot.key,
                days=sender.series_days,
                at=clock(),
                audience=audience,
                from_start=c.from_start,
                days_between=c.days_between,
                extend=c.on_join,  # parts added since a reader started reach them too
            )
            report = SendReport(slot.day, slot.number)
        else:
            report = sender.send_day(slot.day, audience=audience)
        # readers back from their own pause get the part they left off at instead (ledger/postponed.py)
        parts = sender.send_postponed(audience) if slot.series and not report.stopped else []
    except PausedError:
        pause = current_pause(store)
        return Outcome("paused", reason=pause.reason if pause else "paused")
    except LockHeld as err:
        log.warning("%s: %s — another process is sending it; checking again in %s", label, err, LOCKED_RETRY)
        return Outcome("retry", LOCKED_RETRY)
    except InvalidInput as err:
        header = (
            f"{label}: not sent — the inputs are invalid (fix them; the send is tried again after the "
            f"next valid edit, or send it with `campaign send {slot.number}`):"
        )
        log_problems(header, err.lines())
        return Outcome("retry", None)
    except AuthenticationFailed as err:  # paused until `campaign resume --yes`, and the operators are told
        log.error("%s: not sent — %s; sending is paused until the credentials are fixed", label, err)
        credentials_refused(
            store, Alerts(project.settings, store.engine, project.schedule), err, day=slot.day, now=clock()
        )
        return Outcome("retry", RETRY_AFTER)
    except CampaignError as err:
        log.error("%s: not sent — %s; trying again in %s (within the grace window)", label, err, RETRY_AFTER)
        return Outcome("retry", RETRY_AFTER)
    if not slot.tail:
        log_report(label, slot.number, report)
    for part in parts:
        what = f"part {part.number}" if slot.evergreen else f"day {part.number}, postponed by readers' own pauses"
        log_report(f"{label}: {what}", part.number, part)
        report.sent += part.sent
        report.stopped = report.stopped or part.stopped
    if report.stopped:
        if stop.is_set():
            log.info("%s: stopped (%s); the rest is sent when the scheduler runs again", label, report.stopped)
            return Outcome("stopped", report=report)
        # the sender gave up (e.g. failed batches in a row): try again later, within the grace window
        log.error("%s: the send stopped (%s); trying again in %s", label, report.stopped, RETRY_AFTER)
        return Outcome("retry", RETRY_AFTER, report=report)
    return Outcome("done", report=report)
