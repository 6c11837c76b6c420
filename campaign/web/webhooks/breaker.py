"""After a webhook stored complaints or hard bounces: the deliverability breaker (campaign/alerts/breaker.py)
checks the day's rates and, over a limit, pauses the series and alerts (timing/holds.py). A failure here is
logged and never turns the stored events into an error response (the provider would resend them)."""

from __future__ import annotations

import logging
from datetime import datetime

from campaign.web.context import SiteContext

log = logging.getLogger("campaign.web")


def check_breaker_after(ctx: SiteContext, now: datetime) -> None:
    from campaign.alerts.center import Alerts
    from campaign.timing.holds import check_breaker

    schedule = ctx.project.schedule
    try:
        why = check_breaker(ctx.store, Alerts(ctx.settings, ctx.store.engine, schedule), schedule.breaker, now=now)
    except Exception:  # noqa: BLE001
        log.exception("the deliverability breaker could not be checked")
        return
    if why:
        log.error("deliverability breaker tripped: %s; the series is paused", why)
