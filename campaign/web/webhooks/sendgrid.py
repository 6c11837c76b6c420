"""SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA P-256.

Verification: the `X-Twilio-Email-Event-Webhook-Signature` header is a base64 DER ECDSA signature over
SHA-256 of (`X-Twilio-Email-Event-Webhook-Timestamp` header + the raw body), checked with the public key
SendGrid shows (SENDGRID_WEBHOOK_PUBLIC_KEY, as PEM or as the bare base64 DER SendGrid displays).

Freshness and replays, as for the other signed providers: the signed timestamp must lie within
`FRESH_WITHIN` of now, and the digest of the signed bytes (timestamp + body) is remembered, so a captured
request sent again is refused. (ECDSA signatures are randomised: the signature itself is no identity.)

Events: `bounce` (type "blocked" is a temporary block, stored only) → bounced; `dropped` for a "Bounced
Address" or "Invalid" → bounced, "Spam Reporting Address" → complained, "Unsubscribed Address" →
unsubscribed; `spamreport` → complained; `unsubscribe` / `group_unsubscribe` → unsubscribed; the rest are
stored only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from campaign.config import Settings
from campaign.errors import ConfigurationError, Malformed, Problem, Unauthorized
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    REMEMBER_FOR,
    UNSUBSCRIBE,
    WebhookEvent,
    address,
    check_fresh,
    parse_json,
    printable,
    text,
)
from campaign.web.webhooks.protocol import Verified, WebhookProvider, WebhookRequest

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
MAX_SIGNATURE = 200  # a base64 DER P-256 signature is about 96 characters


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


class SendGridWebhook(WebhookProvider):
    name = "sendgrid"
    max_body = 1024 * 1024  # SendGrid batches events; its posts stay under ~768 KB

    def __init__(self, public_key: ec.EllipticCurvePublicKey):
        self._key = public_key

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridWebhook | None:
        value = settings.get(ENV)
        return cls(load_public_key(value)) if value else None

    def authenticate(self, request: WebhookRequest) -> Verified:
        signature = request.headers.get(SIGNATURE_HEADER.lower())
        timestamp = request.headers.get(TIMESTAMP_HEADER.lower())
        if not signature or not timestamp or len(signature) > MAX_SIGNATURE:
            raise Unauthorized("signature headers missing")
        check_fresh(timestamp, request.now)  # cheap, and refuses month-old captures before any crypto
        signed = timestamp.encode() + request.body
        try:
            der = base64.b64decode(signature, validate=True)
            self._key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise Unauthorized("bad signature") from None
        return Verified(once=hashlib.sha256(signed).hexdigest(), keep_for=REMEMBER_FOR)

    def parse(self, body: bytes) -> list[WebhookEvent]:
        events = parse_json(body)
        if not isinstance(events, list) or len(events) > MAX_EVENTS:
            raise Malformed("a SendGrid webhook body is a JSON array of events")
        out = []
        for i, event in enumerate(events):
            if not isinstance(event, dict):
                raise Malformed(f"event {i} is not an object")
            name = text(event.get("event"), field=f"[{i}].event")
            email = address(event.get("email"), field=f"[{i}].email", required=name not in ("processed",))
            detail = printable(str(event.get("reason") or event.get("type") or ""))
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
