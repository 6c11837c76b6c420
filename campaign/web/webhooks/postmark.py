"""Postmark webhooks: not signed, so protected by HTTP basic auth configured on Postmark's side
(https://USER:PASSWORD@your-domain/webhooks/postmark) — POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD.

One JSON object per request, `RecordType` naming the event:
- Bounce: `Type` HardBounce / BadEmailAddress (or `Inactive: true`, Postmark has deactivated the address)
  → bounced; Type SpamComplaint → complained; Type Unsubscribe → unsubscribed; other types are stored only.
- SpamComplaint → complained.
- SubscriptionChange with `SuppressSending: true` → by `SuppressionReason`: HardBounce → bounced,
  SpamComplaint → complained, ManualSuppression → unsubscribed. A reactivation on Postmark's side is stored
  but never re-subscribes anyone (that takes a confirmed sign-up).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from campaign.config import Settings
from campaign.errors import ConfigurationError, Malformed, Problem, Unauthorized
from campaign.web.webhooks.common import (
    COMPLAINT,
    HARD_BOUNCE,
    UNSUBSCRIBE,
    WebhookEvent,
    address,
    parse_json,
    printable,
    text,
)
from campaign.web.webhooks.protocol import Verified, WebhookProvider, WebhookRequest

HARD_BOUNCE_TYPES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
SUPPRESSION_REASONS = {"HardBounce": HARD_BOUNCE, "SpamComplaint": COMPLAINT, "ManualSuppression": UNSUBSCRIBE}


MAX_AUTHORIZATION = 1024


class PostmarkWebhook(WebhookProvider):
    name = "postmark"
    realm = "campaign webhooks"
    max_body = 256 * 1024  # one event per request

    def __init__(self, user: str, password: str):
        self._user = user.encode()
        self._password = password.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> PostmarkWebhook | None:
        user, password = settings.get("POSTMARK_WEBHOOK_USER"), settings.get("POSTMARK_WEBHOOK_PASSWORD")
        if user is None and password is None:
            return None
        if user is None or password is None:
            missing = "POSTMARK_WEBHOOK_USER" if user is None else "POSTMARK_WEBHOOK_PASSWORD"
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    missing,
                    f"{missing} is not set, but its partner is",
                    "set both POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD "
                    "(the basic-auth credentials in Postmark's webhook URL)",
                )
            )
        return cls(user, password)

    def authenticate(self, request: WebhookRequest) -> Verified:
        user, password = _basic_credentials(request.headers.get("authorization"))
        # Compare both parts in full either way (no early exit that would time the user name).
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        if not (user_ok and password_ok):
            raise Unauthorized("wrong basic-auth credentials")
        return Verified()  # Postmark signs nothing: no one-time value to remember

    @classmethod
    def refusal_headers(cls) -> dict[str, str]:
        return {"WWW-Authenticate": f'Basic realm="{cls.realm}"'}

    def parse(self, body: bytes) -> list[WebhookEvent]:
        event = parse_json(body)
        if not isinstance(event, dict):
            raise Malformed("a Postmark webhook body is one JSON object")
        record = text(event.get("RecordType"), field="RecordType")
        if record == "Bounce":
            kind_name = text(event.get("Type"), field="Type")
            # a Bounce without Email happens (anymail #447): stored and answered 200, or Postmark retries for ever
            email = address(event.get("Email"), field="Email", required=False)
            if kind_name in HARD_BOUNCE_TYPES or (
                event.get("Inactive") is True and kind_name != "SpamComplaint" and kind_name != "Unsubscribe"
            ):
                kind = HARD_BOUNCE
            elif kind_name == "SpamComplaint":
                kind = COMPLAINT
            elif kind_name == "Unsubscribe":
                kind = UNSUBSCRIBE
            else:
                kind = "soft_bounce"
            return [
                WebhookEvent(
                    kind, email, printable(f"{kind_name}: {event.get('Description') or ''}").strip(": "), event
                )
            ]
        if record == "SpamComplaint":
            return [WebhookEvent(COMPLAINT, address(event.get("Email"), field="Email"), "spam complaint", event)]
        if record == "SubscriptionChange":
            email = address(event.get("Recipient"), field="Recipient")
            suppress = event.get("SuppressSending")
            if not isinstance(suppress, bool):
                raise Malformed("SuppressSending is not true or false")
            reason = event.get("SuppressionReason")
            if suppress and reason in SUPPRESSION_REASONS:
                return [WebhookEvent(SUPPRESSION_REASONS[reason], email, f"suppressed: {reason}", event)]
            return [WebhookEvent("subscription_change", email, str(reason or ""), event)]
        email = event.get("Recipient", event.get("Email"))
        return [WebhookEvent(record.lower(), address(email, field="Recipient", required=False), "", event)]


def _basic_credentials(header: str | None) -> tuple[bytes, bytes]:
    """(user, password) from an `Authorization: Basic …` header, as bytes; anything else is Unauthorized."""
    if not header or len(header) > MAX_AUTHORIZATION:
        raise Unauthorized("basic auth required")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("basic auth required")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("basic auth required") from None
    user, colon, password = decoded.partition(b":")
    if not colon:
        raise Unauthorized("basic auth required")
    return user, password
