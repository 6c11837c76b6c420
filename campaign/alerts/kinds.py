"""The kinds of alert, spelled `source:subject:action` like the audit tags (style.md §11)."""

from __future__ import annotations

from enum import StrEnum


class AlertKind(StrEnum):
    DAY_MISSED = "series:day:missed"  # a day's send time passed beyond the grace window
    SEND_INCOMPLETE = "send:day:incomplete"  # a send ended with failed or unknown deliveries
    CREDENTIALS = "provider:credentials:refused"  # 401/403: sending is paused until `campaign resume`
    RELOAD_REFUSED = "series:reload:refused"  # a hot-reloaded edit was refused (names file:line)
    SCHEDULER_STARTED = "scheduler:run:started"
    SCHEDULER_STOPPED = "scheduler:run:stopped"
    STANDBY_TOOK_OVER = "scheduler:standby:took_over"
    BREAKER_TRIPPED = "breaker:series:paused"  # complaints or hard bounces over the limit
    STORAGE_FAILED = "storage:database:failed"  # a full disk or a failing database stopped a command
    TEST = "alerts:channel:test"
    DAILY_REPORT = "report:day:sent"


# Kinds that also reach the organisers (alerts.organisers), not only the operators.
FOR_ORGANISERS = frozenset({AlertKind.RELOAD_REFUSED, AlertKind.BREAKER_TRIPPED, AlertKind.TEST})
