"""What every provider webhook shares: the normalised event, the two ways a request is refused, and how
events change the subscriber list.

A provider module only authenticates a request and turns its body into `WebhookEvent`s (style.md §1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from campaign.ledger.store import BOUNCED, COMPLAINED, UNSUBSCRIBED, Store

# Normalised kinds that stop all further mail, and the subscriber status each one sets.
HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE = "bounce", "complaint", "unsubscribe"
STATUS_FOR = {HARD_BOUNCE: BOUNCED, COMPLAINT: COMPLAINED, UNSUBSCRIBE: UNSUBSCRIBED}


class Unauthorized(Exception):
    """Missing or wrong credentials/signature, stale timestamp, replay: 401 and nothing changes."""


class Malformed(Exception):
    """An authenticated body we cannot read: 400 and nothing changes (never a 500)."""


@dataclass(frozen=True)
class WebhookEvent:
    kind: str  # bounce | complaint | unsubscribe | soft_bounce | the provider's own name
    email: str | None
    detail: str  # what the provider said, for the subscriber's status_reason
    payload: Any  # the provider's event, stored as received

    @property
    def suppresses(self) -> str | None:
        return STATUS_FOR.get(self.kind)


def check_fresh(timestamp: str, now: datetime, tolerance: timedelta) -> None:
    """A signed epoch-seconds timestamp must lie within `tolerance` of now: an old, replayed request is refused."""
    try:
        signed_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Unauthorized("timestamp out of range") from None
    if abs(now - signed_at) > tolerance:
        raise Unauthorized("stale timestamp")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise Malformed(f"the body is not JSON: {err}") from None


def address(value: Any, *, field: str, required: bool = True) -> str | None:
    """A bare, lower-cased address from a provider field ("Name <a@b>" accepted)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or "@" not in value:
        raise Malformed(f"{field} is not an email address")
    return parseaddr(value)[1].strip().lower() or None


def text(value: Any, *, field: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Malformed(f"{field} is missing or not a string")
    return value


def apply_events(store: Store, provider: str, events: list[WebhookEvent], *, at) -> int:
    """Store every event; suppress the subscribers that hard-bounced, complained or unsubscribed.
    Returns how many subscribers changed status."""
    changed = 0
    for event in events:
        subscriber = store.subscriber_by_email(event.email) if event.email else None
        status = event.suppresses
        if subscriber is not None and status is not None:
            reason = f"{provider} {event.kind}" + (f": {event.detail}" if event.detail else "")
            changed += store.suppress(subscriber.id, status, reason, at=at)
        store.add_event(
            provider=provider,
            kind=event.kind[:40],
            email=event.email,
            subscriber_id=subscriber.id if subscriber else None,
            payload=event.payload,
            at=at,
        )
    return changed
