"""Mailgun's legacy webhooks: form posts (application/x-www-form-urlencoded, or multipart/form-data when the
event carries attachments) with `timestamp`, `token` and `signature` as form fields — signed the same way
as the JSON webhooks (hex HMAC-SHA256 of timestamp + token).

Mailgun merges a message's user variables into the same form, so a field can repeat: for `timestamp`,
`token` and `signature` Mailgun's own value comes *last*; for every other field the event's value comes
*first* (as django-anymail reads them).

Events: `bounced` → bounced; `dropped` with code 605 (previously bounced) → bounced, 606 (unsubscribed) →
unsubscribed, 607 (marked your messages as spam) → complained, other drops stored only; `complained` →
complained; `unsubscribed` → unsubscribed; the rest are stored only.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from urllib.parse import parse_qs

from campaign.errors import Malformed, Unauthorized
from campaign.web.webhooks.common import COMPLAINT, HARD_BOUNCE, UNSUBSCRIBE, WebhookEvent, address, printable

MAX_FIELDS = 500
DROPPED_CODES = {"605": HARD_BOUNCE, "606": UNSUBSCRIBE, "607": COMPLAINT}
LEGACY_KINDS = {"bounced": HARD_BOUNCE, "complained": COMPLAINT, "unsubscribed": UNSUBSCRIBE}
_KEEP = 2000  # characters of each stored field (message-headers can be long)


def is_form(body: bytes) -> bool:
    """A legacy form post rather than a JSON body (which starts with `{`)."""
    return not body.lstrip()[:1] == b"{"


def form_fields(body: bytes) -> dict[str, list[str]]:
    """The form's fields, each with every value in order. Attachments (parts with a filename) are skipped."""
    try:
        if body.startswith(b"--"):
            return _multipart(body)
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as err:
        raise Unauthorized(f"unreadable form body ({type(err).__name__})") from None


def _multipart(body: bytes) -> dict[str, list[str]]:
    boundary = body.split(b"\r\n", 1)[0][2:].strip()
    if not boundary or len(boundary) > 200 or b'"' in boundary:
        raise ValueError("no multipart boundary")
    head = b'Content-Type: multipart/form-data; boundary="' + boundary + b'"\r\n\r\n'
    message = message_from_bytes(head + body, policy=policy.default)
    fields: dict[str, list[str]] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_FIELDS:
            raise ValueError("too many fields")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_param("filename", header="content-disposition"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        fields.setdefault(name, []).append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return fields


def signature_fields(fields: dict[str, list[str]]) -> tuple[str, str, str]:
    """(timestamp, token, signature): Mailgun's own values, the last of each."""
    values = [fields.get(name, [None])[-1] for name in ("timestamp", "token", "signature")]
    timestamp, token, signature = values
    if not (isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit()):
        raise Unauthorized("incomplete signature fields")
    if not (isinstance(token, str) and 0 < len(token) <= 200 and token.isascii() and token.isprintable()):
        raise Unauthorized("incomplete signature fields")
    if not (isinstance(signature, str) and signature.isascii() and len(signature) == 64):
        raise Unauthorized("incomplete signature fields")
    return timestamp, token, signature


def legacy_events(fields: dict[str, list[str]]) -> list[WebhookEvent]:
    def first(name: str) -> str | None:
        found = fields.get(name)
        return found[0] if found else None

    name = first("event")
    if not name:
        raise Malformed("the form has no event field")
    email = address(first("recipient"), field="recipient", required=False)
    code = (first("code") or "").strip()
    detail = printable(first("error") or first("description") or first("reason") or "")
    if name == "dropped":
        kind = DROPPED_CODES.get(code, "dropped")
    else:
        kind = LEGACY_KINDS.get(name, name)
    if kind in (HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE) and email is None:
        raise Malformed("recipient is missing")
    stored = {
        key: values[0][:_KEEP] if len(values) == 1 else [v[:_KEEP] for v in values[:10]]
        for key, values in fields.items()
        if key not in ("signature", "token") and not key.startswith(("body-", "attachment-"))
    }
    return [WebhookEvent(kind, email, f"{code} {detail}".strip() if code else detail, {"legacy_form": stored})]
