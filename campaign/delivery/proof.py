"""Test copies: one issue, marked [Test], to an address the operator names; the ledger is not touched."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Protocol

from campaign.delivery.editions import Editions
from campaign.delivery.recipients import Recipients
from campaign.ledger.addresses import clean_name
from campaign.ledger.views import SenderLedger
from campaign.providers.base import Batch, Identity, Provider, Recipient, Result
from campaign.series.project import Project


class Sending(Protocol):
    """What a test copy needs of the sender (a Protocol: this module must not import sender.py)."""

    project: Project | None
    editions: Editions
    store: SenderLedger
    provider: Provider
    clock: Callable[[], datetime]
    recipients: Recipients

    def identity(self, day: date) -> Identity: ...


def send_test_copy(sender: Sending, day: date, email: str, *, country: str | None = None) -> Result:
    """One copy of `day` to `email` through the sender's provider, with the subscriber's name and crisis
    variant when the address is a subscriber (else the default variant, or `country`'s): a started day's
    stored email, else the day as the folder renders it now."""
    existing = sender.store.subscriber_by_email(email)
    subscriber_id = existing.id if existing else 0
    name = clean_name(existing.name) if existing else None
    wanted = country or (existing.country if existing else None)
    if sender.editions.get(day) is not None:
        issue = sender.editions.issue(day, sender.editions.variant_for(day, wanted))
    else:
        project = sender.editions.require_project(day)
        issue = project.render(day, project.variant_for(wanted))
    recipient = Recipient(
        subscriber_id,
        email,
        name,
        sender.recipients.unsubscribe_link(subscriber_id),
        sender.recipients.preferences_link(subscriber_id, day),
    )
    if why := sender.provider.refusal(recipient):
        return Result(subscriber_id, False, error=f"not sent: {why}", permanent=True)
    batch = Batch(
        f"test-{uuid.uuid4().hex[:12]}",
        issue,
        (recipient,),
        sender.identity(day),
        sent_at=sender.clock(),
        subject_prefix="[Test] ",
    )
    return sender.provider.send_batch(batch)[0]
