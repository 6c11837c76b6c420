"""One reminder for a sign-up left unconfirmed: 24 hours after the request, never more.

`send_signup_reminders(store, mailer, now=...)` is meant to run from the scheduler (hourly is plenty). It
sends the confirmation email again — with a fresh 7-day link — to every sign-up requested between
`REMIND_AFTER` and `LINK_LIFETIME` ago that is still waiting and was never reminded. The reminder is recorded
(an event of kind "confirmation_reminder") *before* it is sent, so a crash, a failed send or a second
process never makes it two; a reader who wants another link signs up again.
`campaign run` calls it every REMINDER_EVERY (timing/scheduler.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from campaign.errors import CampaignError
from campaign.ledger.subscribers import Subscriber
from campaign.ledger.views import SenderLedger
from campaign.providers import Result

log = logging.getLogger("campaign.delivery")

REMINDER_KIND = "confirmation_reminder"  # the ledger query `signups_to_remind` looks for this kind
REMIND_AFTER = timedelta(hours=24)
REMINDER_EVERY = timedelta(hours=1)  # how often `campaign run` looks for sign-ups due a reminder
LINK_LIFETIME = timedelta(days=7)  # past this the sign-up has lapsed; no reminder
BATCH = 500


class ConfirmationSender(Protocol):
    def send(self, subscriber: Subscriber) -> Result: ...


def send_signup_reminders(store: SenderLedger, mailer: ConfirmationSender, *, now: datetime, limit: int = BATCH) -> int:
    """Remind every sign-up that is due; returns how many reminders the provider accepted."""
    due = store.signups_to_remind(requested_before=now - REMIND_AFTER, requested_after=now - LINK_LIFETIME, limit=limit)
    accepted = 0
    for subscriber in due:
        store.add_event(
            provider="web",
            kind=REMINDER_KIND,
            email=subscriber.email,
            subscriber_id=subscriber.id,
            payload={"reminded_at": now.isoformat()},
            at=now,
        )
        try:
            result = mailer.send(subscriber)
        except CampaignError as err:
            log.error("sign-up reminder to subscriber %s not sent: %s", subscriber.id, err)
            continue
        if result.ok:
            accepted += 1
        else:
            log.error("sign-up reminder to subscriber %s refused: %s", subscriber.id, result.error)
    return accepted
