"""Mailgun webhooks: JSON `{"signature": {timestamp, token, signature}, "event-data": {...}}` — and the legacy
form posts (mailgun_legacy.py), verified the same way from their timestamp, token and signature fields.

Verification (Mailgun's "securing webhooks"): `signature` is the hex HMAC-SHA256 of timestamp + token keyed
by MAILGUN_WEBHOOK_SIGNING_KEY. Mailgun puts the signature *inside* the body, so before anything is verified
only that block is read: the body must be small (`max_body`) and shallow, the top-level `"signature"` member
is cut out without decoding the rest, and only those few hundred bytes are decoded. A timestamp outside
`FRESH_WITHIN` is refused, and so is a token seen before — a captured request cannot be replayed.

Events: `failed` with severity "permanent" → bounced (temporary failures are stored only); `complained` →
complained; `unsubscribed` → unsubscribed; the rest are stored only.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from campaign.config import Settings
from campaign.errors import Malformed, Unauthorized
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    MAX_ONCE,
    REMEMBER_FOR,
    UNSUBSCRIBE,
    WebhookEvent,
    address,
    check_depth,
    check_fresh,
    parse_json,
    printable,
    text,
    top_level_member,
)
from campaign.web.webhooks.mailgun_legacy import form_fields, is_form, legacy_events, signature_fields
from campaign.web.webhooks.protocol import Verified, WebhookProvider, WebhookRequest

ENV = "MAILGUN_WEBHOOK_SIGNING_KEY"
MAX_SIGNATURE_BLOCK = 1024  # {"timestamp": 10 digits, "token": 50 hex, "signature": 64 hex}


class MailgunWebhook(WebhookProvider):
    name = "mailgun"
    max_body = 256 * 1024  # one event per request; read (a little) before it is verified

    def __init__(self, signing_key: str):
        self._key = signing_key.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> MailgunWebhook | None:
        value = settings.get(ENV)
        return cls(value) if value else None

    def authenticate(self, request: WebhookRequest) -> Verified:
        if is_form(request.body):  # the legacy form post: the same signature, as form fields
            timestamp, token, signature = signature_fields(form_fields(request.body))
        else:
            timestamp, token, signature = _signature_block(request.body)
        expected = hmac.new(self._key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise Unauthorized("bad signature")
        check_fresh(timestamp, request.now)
        return Verified(once=token, keep_for=REMEMBER_FOR)

    def parse(self, body: bytes) -> list[WebhookEvent]:
        if is_form(body):
            return legacy_events(form_fields(body))
        payload = parse_json(body)
        data = payload.get("event-data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise Malformed("event-data is missing or not an object")
        name = text(data.get("event"), field="event-data.event")
        email = address(data.get("recipient"), field="event-data.recipient", required=False)
        raw_status = data.get("delivery-status")
        status = raw_status if isinstance(raw_status, dict) else {}
        detail = printable(str(data.get("reason") or status.get("description") or status.get("message") or ""))
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


def _signature_block(body: bytes) -> tuple[str, str, str]:
    """(timestamp, token, signature) from the body's top-level signature block, read without decoding the
    rest of the (still unverified) body. Anything unreadable is Unauthorized: nobody learns more."""
    try:
        check_depth(body)
        raw = top_level_member(body, b'"signature"')
    except Malformed:
        raw = None
    if raw is None or len(raw) > MAX_SIGNATURE_BLOCK:
        raise Unauthorized("no signature block")
    try:
        block = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Unauthorized("unreadable signature block") from None
    if not isinstance(block, dict):
        raise Unauthorized("no signature block")
    timestamp, token, signature = block.get("timestamp"), block.get("token"), block.get("signature")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not (isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit()):
        raise Unauthorized("incomplete signature block")
    if not (isinstance(token, str) and 0 < len(token) <= MAX_ONCE and token.isascii() and token.isprintable()):
        raise Unauthorized("incomplete signature block")
    if not (isinstance(signature, str) and signature.isascii() and len(signature) == 64):
        raise Unauthorized("incomplete signature block")
    return timestamp, token, signature
