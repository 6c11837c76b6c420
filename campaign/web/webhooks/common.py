"""What every provider webhook shares: the normalised event, bounded JSON reading, the freshness window,
and how events change the subscriber list.

A provider module only authenticates a request and turns its body into `WebhookEvent`s (style.md §1; the
protocol is in protocol.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from itertools import accumulate
from typing import Any

from campaign.errors import Malformed, Unauthorized
from campaign.ledger.states import BOUNCED, COMPLAINED, UNSUBSCRIBED
from campaign.ledger.views import SiteLedger

# Normalised kinds that stop all further mail, and the subscriber status each one sets.
HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE = "bounce", "complaint", "unsubscribe"
STATUS_FOR = {HARD_BOUNCE: BOUNCED, COMPLAINT: COMPLAINED, UNSUBSCRIBE: UNSUBSCRIBED}

# A signed timestamp further than this from now is refused, for every provider that signs one (the Standard
# Webhooks / Svix default). Tokens are remembered for twice as long: past that, the timestamp refuses them.
FRESH_WITHIN = timedelta(minutes=5)
REMEMBER_FOR = 2 * FRESH_WITHIN
MAX_DEPTH = 32  # provider events nest 4-6 levels; a deeper body is refused before json.loads sees it
MAX_ONCE = 200  # the longest one-time token or message id we store (ledger column width)

# JSON's structural tokens and whole strings; everything else (numbers, literals, spaces) is skipped in C.
# An unterminated string runs to the end of the body (possessive, so no input makes this quadratic).
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)|[\[\]{}:,]', re.DOTALL)
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]
_EPOCH_SECONDS = re.compile(r"[0-9]{1,12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
MAX_ADDRESS = 320


@dataclass(frozen=True)
class WebhookEvent:
    kind: str  # bounce | complaint | unsubscribe | soft_bounce | the provider's own name
    email: str | None
    detail: str  # what the provider said, for the subscriber's status_reason
    payload: Any  # the provider's event, stored as received

    @property
    def suppresses(self) -> str | None:
        return STATUS_FOR.get(self.kind)


def check_fresh(timestamp: str | None, now: datetime, tolerance: timedelta = FRESH_WITHIN) -> None:
    """A signed epoch-seconds timestamp must lie within `tolerance` of now: an old, replayed request is refused."""
    if not isinstance(timestamp, str) or not _EPOCH_SECONDS.fullmatch(timestamp):
        raise Unauthorized("the signed timestamp is not epoch seconds")
    try:
        signed_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Unauthorized("timestamp out of range") from None
    if abs(now - signed_at) > tolerance:
        raise Unauthorized("stale timestamp")


def check_depth(body: bytes) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before any decoder recurses into it. Linear time, no
    recursion: strings are cut out, the brackets left are counted in C."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH:
        raise Malformed(f"the body is nested deeper than {MAX_DEPTH} levels")


def top_level_member(body: bytes, member: bytes) -> bytes | None:
    """The raw bytes of one member of a JSON body's top-level object (`member` as written: b'"signature"'),
    found without decoding the body; None when there is no such member or the body is not an object.
    Call check_depth first: this walks every token (bounded by the caller's size cap)."""
    depth = 0
    key: bytes | None = None  # the last string seen directly inside the top-level object
    start: int | None = None
    for match in _TOKENS.finditer(body):
        token = match.group()
        first = token[:1]
        if first in (b"[", b"{"):
            depth += 1
        elif first in (b"]", b"}"):
            depth -= 1
            if depth <= 0:
                return body[start : match.start()].strip() if start is not None and depth == 0 else None
        elif depth == 1 and token == b":":
            if key == member:
                start = match.end()
        elif depth == 1 and token == b"," and start is not None:
            return body[start : match.start()].strip()
        key = token if depth == 1 and first == b'"' else None
    return None


def parse_json(body: bytes) -> Any:
    """Decode an authenticated JSON body, bounded: nesting checked first, then the standard decoder."""
    check_depth(body)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise Malformed(f"the body is not JSON: {str(err)[:200]}") from None


def address(value: Any, *, field: str, required: bool = True) -> str | None:
    """A bare, lower-cased address from a provider field ("Name <a@b>" accepted)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or "@" not in value or len(value) > MAX_ADDRESS or _CONTROL.search(value):
        raise Malformed(f"{field} is not an email address")
    return parseaddr(value)[1].strip().lower() or None


def text(value: Any, *, field: str) -> str:
    """A required, non-empty string field."""
    if not isinstance(value, str) or not value:
        raise Malformed(f"{field} is missing or not a string")
    return value


def printable(value: str, limit: int = 300) -> str:
    """Provider text made safe to store in a status reason: no control or invisible characters, bounded."""
    return _CONTROL.sub(" ", value)[:limit].strip()


# Provider open and click events (our requests ask for no tracking, but an account setting may add it): only
# a count per issue day is kept, never the event with its recipient, client or link fields.
ENGAGEMENT_KINDS = {
    "open": "provider_open",
    "opened": "provider_open",
    "email.opened": "provider_open",
    "click": "provider_click",
    "clicked": "provider_click",
    "email.clicked": "provider_click",
}
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def issue_day(payload: Any, depth: int = 0) -> date | None:
    """The issue day our send tagged a provider event with (Postmark Tag/Metadata, SendGrid custom args,
    Mailgun user-variables, Resend tags): the first "issue"/"tag" value that is an ISO date."""
    if depth > 6:
        return None
    items: list = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if str(key).lower() in ("issue", "tag") and isinstance(value, str) and _ISO_DAY.fullmatch(value):
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    return None
            if isinstance(value, dict | list):
                items.append(value)
        if payload.get("name") == "issue" and isinstance(payload.get("value"), str):
            return issue_day({"issue": payload["value"]})
    elif isinstance(payload, list):
        items = payload[:50]
    for item in items:
        if (found := issue_day(item, depth + 1)) is not None:
            return found
    return None


def apply_events(store: SiteLedger, provider: str, events: list[WebhookEvent], *, at) -> int:
    """Store every event; suppress the subscribers that hard-bounced, complained or unsubscribed; reduce open
    and click events to a count per issue day (nothing per recipient is kept). Returns how many subscribers
    changed status."""
    changed = 0
    for event in events:
        counted = ENGAGEMENT_KINDS.get(event.kind.lower())
        if counted is not None:
            store.count_engagement(issue_day(event.payload) or at.date(), counted, provider)
            continue
        subscriber = store.subscriber_by_email(event.email) if event.email else None
        status = event.suppresses
        if subscriber is not None and status is not None:
            detail = printable(event.detail)
            reason = f"{provider} {event.kind}" + (f": {detail}" if detail else "")
            changed += store.suppress(subscriber.id, status, reason, at=at)
        store.add_event(
            provider=provider,
            kind=printable(event.kind, 40),
            email=event.email,
            subscriber_id=subscriber.id if subscriber else None,
            payload=event.payload,
            at=at,
        )
    return changed
