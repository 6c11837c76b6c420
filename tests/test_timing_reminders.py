"""`campaign run` reminds an unconfirmed sign-up once, 24 hours after it was requested — never twice."""

from __future__ import annotations

import time
from datetime import timedelta

from campaign.clock import Clock
from tests.conftest import wait_until
from tests.scheduler_helpers import at_ny, running


def _reminders(store) -> int:
    from sqlalchemy import func, select

    from campaign.ledger.schema import events

    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(events).where(events.c.kind == "confirmation_reminder")
        ).scalar_one()


def test_the_scheduler_reminds_an_unconfirmed_sign_up_once(campaign_dir):
    now = at_ny("2027-08-20 10:00")
    store = campaign_dir.store()
    try:
        store.request_signup(
            "late@example.org",
            name="Late",
            country="US",
            at=now - timedelta(hours=25),
            min_interval=timedelta(minutes=5),
        )
        store.request_signup(
            "fresh@example.org",
            name="Fresh",
            country="US",
            at=now - timedelta(hours=2),
            min_interval=timedelta(minutes=5),
        )
        with running(campaign_dir, Clock(now)):
            wait_until(lambda: _reminders(store) >= 1, what="the reminder")
        with running(campaign_dir, Clock(now + timedelta(hours=3))) as scheduler:  # a restart: still one
            wait_until(lambda: scheduler.announced, what="the second scheduler started")
            time.sleep(1.0)  # several turns of its loop, the reminder pass among them
        assert _reminders(store) == 1
        sent = sorted((campaign_dir.outbox / "confirmations").rglob("*.eml"))
        assert [p.name for p in sent if "late@example.org" in p.name] and not [p for p in sent if "fresh" in p.name]
        assert store.subscriber_by_email("late@example.org").status == "pending"
    finally:
        store.close()
