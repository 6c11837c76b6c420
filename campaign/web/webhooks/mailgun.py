"""Mailgun webhooks: JSON `{"signature": {timestamp, token, signature}, "event-data": {...}}`.

Verification (Mailgun's "securing webhooks"): `signature` is the hex HMAC-SHA256 of timestamp + token keyed
by MAILGUN_WEBHOOK_SIGNING_KEY. A timestamp more than `MAX_SKEW` from now is refused, and so is a token seen
before (kept for as long as its timestamp could be accepted) — a captured request cannot be replayed.

Events: `failed` with severity "permanent" → bounced (temporary failures are stored only); `complained` →
complained; `unsubscribed` → unsubscribed; the rest are stored only.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from campaign.config import Settings
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    UNSUBSCRIBE,
    Malformed,
    Unauthorized,
    WebhookEvent,
    address,
    check_fresh,
    parse_json,
    text,
)

ENV = "MAILGUN_WEBHOOK_SIGNING_KEY"
MAX_SKEW = timedelta(minutes=15)


class MailgunWebhook:
    name = "mailgun"

    def __init__(self, signing_key: str):
        self._key = signing_key.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> MailgunWebhook | None:
        value = settings.get(ENV)
        return cls(value) if value else None

    def authenticate(self, request, body: bytes, *, now: datetime, store) -> None:
        payload = parse_json(body)
        block = payload.get("signature") if isinstance(payload, dict) else None
        if not isinstance(block, dict):
            raise Unauthorized("no signature block")
        timestamp, token, signature = block.get("timestamp"), block.get("token"), block.get("signature")
        if isinstance(timestamp, int) and not isinstance(timestamp, bool):
            timestamp = str(timestamp)
        if not all(isinstance(v, str) and v for v in (timestamp, token, signature)) or not timestamp.isdigit():
            raise Unauthorized("incomplete signature block")
        expected = hmac.new(self._key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise Unauthorized("bad signature")
        check_fresh(timestamp, now, MAX_SKEW)
        if len(token) > 200 or not store.remember_webhook_token(
            self.name, token, at=now, forget_before=now - 2 * MAX_SKEW
        ):
            raise Unauthorized("replayed token")

    def parse(self, request, body: bytes) -> list[WebhookEvent]:
        payload = parse_json(body)
        data = payload.get("event-data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise Malformed("event-data is missing or not an object")
        name = text(data.get("event"), field="event-data.event")
        email = address(data.get("recipient"), field="event-data.recipient", required=False)
        status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
        detail = str(data.get("reason") or status.get("description") or status.get("message") or "")[:300]
        if name == "failed":
            kind = HARD_BOUNCE if data.get("severity") == "permanent" else "soft_bounce"
        elif name == "complained":
            kind = COMPLAINT
        elif name == "unsubscribed":
            kind = UNSUBSCRIBE
        else:
            kind = name
        if kind in (HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE) and email is None:
            raise Malformed("event-data.recipient is missing")
        return [WebhookEvent(kind, email, detail, payload)]
