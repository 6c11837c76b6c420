"""Pauses the series puts on itself, each with its alert: the provider refusing the credentials (401/403)
and the deliverability breaker. Both stay until an operator runs `campaign resume --yes`, which shows the
reason and figures first.

The pause is the ordinary one (pause.py: state "pause"), with two more fields — `cause` ("credentials" or
"breaker") and `figures` — so `campaign status`, `send` and `resume` can name them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from campaign.alerts.breaker import WHAT_TO_LOOK_AT, day_figures, tripped
from campaign.alerts.center import Alerts
from campaign.alerts.kinds import AlertKind
from campaign.ledger.views import SchedulerLedger
from campaign.series.alerting import BreakerSettings
from campaign.timing.pause import PAUSE_KEY, pause_series

CREDENTIALS, BREAKER = "credentials", "breaker"


def hold_series(
    store: SchedulerLedger, *, cause: str, reason: str, now: datetime, figures: dict[str, Any] | None = None
) -> bool:
    """Pause the series for `cause`; False when it was paused already (the first reason stands)."""
    _, started = pause_series(store, reason, now=now)
    if started:
        store.set_state(PAUSE_KEY, {**(store.get_state(PAUSE_KEY) or {}), "cause": cause, "figures": figures or {}})
    return started


def credentials_refused(
    store: SchedulerLedger, alerts: Alerts, error: Exception, *, day: date | None, now: datetime
) -> None:
    """The provider refused the credentials: pause sending until `campaign resume`, and alert once a day."""
    reason = f"the provider refused the credentials ({error}); fix them, then `campaign resume --yes`"
    hold_series(store, cause=CREDENTIALS, reason=reason, now=now)
    alerts.raise_alert(
        AlertKind.CREDENTIALS,
        f"Sending is paused: {reason}",
        day=day,
        cause=CREDENTIALS,
    )


def check_breaker(store: SchedulerLedger, alerts: Alerts, limits: BreakerSettings, *, now: datetime) -> str | None:
    """After complaints or hard bounces were stored: trip the breaker when the day's rate is over its limit.
    Returns why it tripped (None: it did not)."""
    figures = day_figures(store.engine, now)
    if figures is None:
        return None
    why = tripped(figures, limits)
    if why is None:
        return None
    reason = f"deliverability breaker: {why}"
    hold_series(store, cause=BREAKER, reason=reason, now=now, figures=figures.as_counts())
    alerts.raise_alert(
        AlertKind.BREAKER_TRIPPED,
        f"The series is paused. {reason}. {figures.describe()}. What to look at: {WHAT_TO_LOOK_AT}",
        day=figures.day,
        counts=figures.as_counts(),
        cause=BREAKER,
    )
    return why
