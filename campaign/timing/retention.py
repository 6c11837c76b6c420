"""Retention inside `campaign run`: once a day, erase the readers who left (or never confirmed) more than
`retention_days` ago (ledger/privacy.py). Logged, never raised: it must not hold up an issue."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaign.config import Settings
from campaign.ledger.views import SchedulerLedger
from campaign.series.project import Project
from campaign.timing.logs import log

PURGE_EVERY = timedelta(days=1)


def purge_logged(settings: Settings, project: Project, store: SchedulerLedger, *, now: datetime) -> int:
    days = project.schedule.campaign.retention_days
    try:
        erased = store.purge_expired(key=settings.secret_key, cutoff=now - timedelta(days=days), at=now)
    except Exception:
        log.exception("privacy purge: unexpected error (tried again tomorrow)")
        return 0
    if erased:
        log.info("privacy purge: %d reader(s) who left more than %d days ago erased", erased, days)
    return erased
