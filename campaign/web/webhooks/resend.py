"""Resend webhooks, signed by Svix (the Standard Webhooks scheme).

Verification: with RESEND_WEBHOOK_SECRET = "whsec_" + base64(key), the `svix-signature` header holds one or
more space-separated "v1,<base64 HMAC-SHA256>" of "{svix-id}.{svix-timestamp}.{raw body}". A timestamp more
than `FRESH_WITHIN` from now is refused. Svix re-delivers the *same* svix-id after a failure, so an id already
processed is acknowledged (200) without being applied twice.

Events: `email.bounced` → bounced (a bounce typed "Transient" is stored only); `email.complained` →
complained; `contact.updated`/`contact.created` with `unsubscribed: true` → unsubscribed; the rest stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import timedelta

from campaign.config import Settings
from campaign.errors import ConfigurationError, Malformed, Problem, Unauthorized
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    MAX_ONCE,
    UNSUBSCRIBE,
    WebhookEvent,
    address,
    check_fresh,
    parse_json,
    printable,
    text,
)
from campaign.web.webhooks.protocol import Verified, WebhookProvider, WebhookRequest

ENV = "RESEND_WEBHOOK_SECRET"
PREFIX = "whsec_"
REDELIVERED_WITHIN = timedelta(days=1)  # Svix retries a failed delivery over about a day
MAX_SIGNATURES = 2048


def decode_secret(value: str) -> bytes:
    raw = value.strip()
    raw = raw[len(PREFIX) :] if raw.startswith(PREFIX) else raw
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                ENV,
                f"{ENV} is not a Svix signing secret",
                "copy the signing secret (whsec_…) from Resend's webhook page",
            )
        )
    return key


class ResendWebhook(WebhookProvider):
    name = "resend"
    max_body = 256 * 1024  # one event per request

    def __init__(self, key: bytes):
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> ResendWebhook | None:
        value = settings.get(ENV)
        return cls(decode_secret(value)) if value else None

    def authenticate(self, request: WebhookRequest) -> Verified:
        headers = request.headers
        msg_id = headers.get("svix-id") or headers.get("webhook-id")
        timestamp = headers.get("svix-timestamp") or headers.get("webhook-timestamp")
        signatures = headers.get("svix-signature") or headers.get("webhook-signature")
        if not msg_id or not timestamp or not signatures or len(signatures) > MAX_SIGNATURES:
            raise Unauthorized("svix headers missing")
        if len(msg_id) > MAX_ONCE or not (msg_id.isascii() and msg_id.isprintable()):
            raise Unauthorized("bad message id")
        check_fresh(timestamp, request.now)
        signed = f"{msg_id}.{timestamp}.".encode() + request.body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        offered = [
            part.split(",", 1)[1].encode("latin-1")
            for part in signatures.split()
            if part.startswith("v1,") and len(part) > 3
        ]
        if not any(hmac.compare_digest(expected, sig) for sig in offered):
            raise Unauthorized("bad signature")
        # Svix re-delivers the same id after a failure: a repeat is acknowledged, never applied twice.
        return Verified(once=msg_id, keep_for=REDELIVERED_WITHIN, redelivery=True)

    def parse(self, body: bytes) -> list[WebhookEvent]:
        event = parse_json(body)
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise Malformed("a Resend webhook body is an object with type and data")
        name = text(event.get("type"), field="type")
        data = event["data"]
        if name in ("contact.updated", "contact.created"):
            email = address(data.get("email"), field="data.email")
            kind = UNSUBSCRIBE if data.get("unsubscribed") is True else name
            return [WebhookEvent(kind, email, "unsubscribed at Resend" if kind == UNSUBSCRIBE else "", event)]
        to = data.get("to")
        first = to[0] if isinstance(to, list) and to else to
        required = name in ("email.bounced", "email.complained")
        email = address(first, field="data.to", required=required)
        detail = ""
        if name == "email.bounced":
            bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else {}
            kind = "soft_bounce" if str(bounce.get("type", "")).lower() == "transient" else HARD_BOUNCE
            detail = printable(str(bounce.get("message") or bounce.get("subType") or ""))
        elif name == "email.complained":
            kind = COMPLAINT
        else:
            kind = name
        return [WebhookEvent(kind, email, detail, event)]
