"""What `campaign run` tells the operators, and the heartbeat that lets a monitor notice it died.

- Alerts (campaign/alerts): the scheduler started, stopped, or a standby took over; a day missed past the
  grace window; a hot-reloaded edit refused (naming file:line — the organisers hear it too); a day's send
  that ended with failed or unknown deliveries. Each once per cause and day (the dedupe key).
- The heartbeat: state "scheduler_heartbeat" = {"at", "host", "pid"}, written every HEARTBEAT_EVERY; `/healthz`
  answers 503 once it is older than HEARTBEAT_STALE during the series, and `/metrics` shows its age.

A rehearsal (simulated time, outbox only) raises no alerts and writes no heartbeat.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from campaign.alerts.center import Alerts
from campaign.alerts.kinds import AlertKind
from campaign.clock import utcnow
from campaign.config import Settings
from campaign.ledger.states import FAILED, SENT, UNKNOWN
from campaign.ledger.views import SchedulerLedger
from campaign.series.parts import is_part_key

if TYPE_CHECKING:
    from campaign.delivery.values import SendReport
    from campaign.series.project import Project

HEARTBEAT_KEY = "scheduler_heartbeat"
HEARTBEAT_EVERY = 30.0  # seconds between heartbeats
HEARTBEAT_STALE = timedelta(minutes=2)  # older than this during the series: /healthz answers 503
ALERT_RETRY_EVERY = 300.0  # seconds between rounds of retrying alert sends that failed


def write_heartbeat(store: SchedulerLedger, now: datetime | None = None) -> None:
    at = (now or utcnow()).replace(microsecond=0)
    store.set_state(HEARTBEAT_KEY, {"at": at.isoformat(), "host": socket.gethostname(), "pid": os.getpid()})


def heartbeat_age(store: SchedulerLedger, now: datetime | None = None) -> float | None:
    """Seconds since the scheduler's last heartbeat (None: no scheduler ever ran on this database)."""
    beat = store.get_state(HEARTBEAT_KEY)
    if not isinstance(beat, dict) or "at" not in beat:
        return None
    return max(0.0, ((now or utcnow()) - datetime.fromisoformat(beat["at"])).total_seconds())


class SchedulerWatch:
    def __init__(
        self, settings: Settings, store: SchedulerLedger, project: Callable[[], Project], *, enabled: bool = True
    ):
        self.settings = settings
        self.store = store
        self.project = project
        self.enabled = enabled
        self.standby = False  # set by `campaign run` when it waited as a standby before taking over
        self._next_beat = 0.0
        self._next_retry = time.monotonic() + ALERT_RETRY_EVERY
        self._retrying: threading.Thread | None = None

    def _alerts(self) -> Alerts:
        return Alerts(self.settings, self.store.engine, self.project().schedule)

    def _raise(self, kind: AlertKind, text: str, *, day: date | None = None, counts: Any = None, cause="") -> None:
        if not self.enabled:
            return
        try:
            self._alerts().raise_alert(kind, text, day=day, counts=counts, cause=cause)
        except Exception:  # noqa: BLE001 (an alert must never stop the scheduler)
            from campaign.timing.logs import log

            log.exception("could not raise the %s alert", kind)

    # -- the run ------------------------------------------------------------------------------------------
    def beat(self) -> None:
        if not self.enabled or time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + HEARTBEAT_EVERY
        if time.monotonic() >= self._next_retry and not (self._retrying and self._retrying.is_alive()):
            self._next_retry = time.monotonic() + ALERT_RETRY_EVERY  # alerts that failed get another round
            self._retrying = threading.Thread(target=self._retry_alerts, name="campaign-alert-retry", daemon=True)
            self._retrying.start()
        try:
            write_heartbeat(self.store)
        except Exception:  # noqa: BLE001 (a missed heartbeat shows as a stale one: that is the alarm)
            from campaign.timing.logs import log

            log.warning("could not write the scheduler heartbeat")

    def _retry_alerts(self) -> None:
        try:
            self._alerts().retry_unsent()
        except Exception:  # noqa: BLE001 (tried again next round)
            from campaign.timing.logs import log

            log.warning("could not retry the alerts that failed")

    def started(self) -> None:
        self._next_beat = 0.0
        self.beat()
        where = f"{socket.gethostname()} (pid {os.getpid()})"
        if self.standby:
            self._raise(AlertKind.STANDBY_TOOK_OVER, f"A standby scheduler took over on {where}", cause=where)
        else:
            self._raise(AlertKind.SCHEDULER_STARTED, f"The scheduler started on {where}", cause=where)

    def stopped(self, why: str) -> None:
        where = f"{socket.gethostname()} (pid {os.getpid()})"
        self._raise(AlertKind.SCHEDULER_STOPPED, f"The scheduler on {where} stopped ({why})", cause=where)

    # -- what happened to a send time ---------------------------------------------------------------------
    def missed(self, day: date, number: int, owed: int) -> None:
        self._raise(
            AlertKind.DAY_MISSED,
            f"Day {number} ({day}) was missed: its send time passed beyond the grace window while {owed} "
            f"subscriber(s) were owed it. Send it with `campaign send {number}` (readers get it late) or leave it.",
            day=day,
            counts={"owed": owed},
            cause=str(day),
        )

    def reload_refused(self, changed: list[str], problems: list[str]) -> None:
        first = problems[0] if problems else "invalid"
        self._raise(
            AlertKind.RELOAD_REFUSED,
            f"An edit to {', '.join(changed)} was refused; the last valid schedule stays in force. {first}"
            + (
                f" (and {len(problems) - 1} more problem(s): `campaign validate` lists them)"
                if len(problems) > 1
                else ""
            ),
            counts={"problems": len(problems)},
            cause=first[:120],
        )

    def sent(self, report: SendReport | None) -> None:
        if report is None or not self.enabled:
            return
        if not report.stopped:  # the day's send ran to its end: the operators' daily report (once a day)
            from campaign.timing.report import send_daily_report

            try:
                send_daily_report(self.project(), self.store, report.day, now=utcnow())
            except Exception:  # noqa: BLE001 (a report must never stop the scheduler)
                from campaign.timing.logs import log

                log.exception("could not send the daily report")
        if not (report.failed or report.waiting or report.stopped):
            return
        self._raise(
            AlertKind.SEND_INCOMPLETE,
            f"Day {report.number} ({report.day}) is not complete: {report.summary()}"
            if not is_part_key(report.day)
            else f"A send time of the parts is not complete: sent {report.sent}, failed {report.failed}, "
            f"unknown {report.unknown} — `campaign status` names the parts and the command that settles them",
            day=report.day,
            counts={SENT: report.sent, FAILED: report.failed_waiting, UNKNOWN: report.unknown},
            cause="incomplete",
        )
