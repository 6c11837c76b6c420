"""SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA P-256.

Verification: the `X-Twilio-Email-Event-Webhook-Signature` header is a base64 DER ECDSA signature over
SHA-256 of (`X-Twilio-Email-Event-Webhook-Timestamp` header + the raw body), checked with the public key
SendGrid shows (SENDGRID_WEBHOOK_PUBLIC_KEY, as PEM or as the bare base64 DER SendGrid displays).

Events: `bounce` (type "blocked" is a temporary block, stored only) → bounced; `dropped` for a "Bounced
Address" or "Invalid" → bounced, "Spam Reporting Address" → complained, "Unsubscribed Address" →
unsubscribed; `spamreport` → complained; `unsubscribe` / `group_unsubscribe` → unsubscribed; the rest are
stored only.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    UNSUBSCRIBE,
    Malformed,
    Unauthorized,
    WebhookEvent,
    address,
    parse_json,
    text,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
ENV = "SENDGRID_WEBHOOK_PUBLIC_KEY"

DROPPED_REASONS = {
    "bounced address": HARD_BOUNCE,
    "invalid": HARD_BOUNCE,
    "spam reporting address": COMPLAINT,
    "unsubscribed address": UNSUBSCRIBE,
}
MAX_EVENTS = 10_000


def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key from PEM text or base64 DER; a ConfigurationError explains anything else."""
    value = value.strip()
    try:
        if "BEGIN PUBLIC KEY" in value:
            key = load_pem_public_key(value.replace("\\n", "\n").encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(value.split()), validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                ENV,
                f"{ENV} is not a public key",
                "paste the verification key from SendGrid's Mail Settings → Signed Event Webhook (base64 or PEM)",
            )
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                ENV,
                f"{ENV} is not an ECDSA P-256 key",
                "use the Signed Event Webhook verification key SendGrid shows",
            )
        )
    return key


class SendGridWebhook:
    name = "sendgrid"

    def __init__(self, public_key: ec.EllipticCurvePublicKey):
        self._key = public_key

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridWebhook | None:
        value = settings.get(ENV)
        return cls(load_public_key(value)) if value else None

    def authenticate(self, request, body: bytes, **_) -> None:
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise Unauthorized("signature headers missing")
        try:
            der = base64.b64decode(signature, validate=True)
            self._key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise Unauthorized("bad signature") from None

    def parse(self, request, body: bytes) -> list[WebhookEvent]:
        events = parse_json(body)
        if not isinstance(events, list) or len(events) > MAX_EVENTS:
            raise Malformed("a SendGrid webhook body is a JSON array of events")
        out = []
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise Malformed(f"event {i} is not an object")
            name = text(event.get("event"), field=f"[{i}].event")
            email = address(event.get("email"), field=f"[{i}].email", required=name not in ("processed",))
            detail = str(event.get("reason") or event.get("type") or "")[:300]
            if name == "bounce":
                kind = "soft_bounce" if str(event.get("type", "")).lower() == "blocked" else HARD_BOUNCE
            elif name == "dropped":
                kind = DROPPED_REASONS.get(str(event.get("reason", "")).lower(), "dropped")
            elif name == "spamreport":
                kind = COMPLAINT
            elif name in ("unsubscribe", "group_unsubscribe"):
                kind = UNSUBSCRIBE
            else:
                kind = name
            out.append(WebhookEvent(kind, email, detail, event))
        return out
