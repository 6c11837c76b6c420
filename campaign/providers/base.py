"""The provider interface: what the sender hands a provider, and what it gets back.

The sender owns the loop (stream owed subscribers → batch → claim in the ledger → send → record). A provider
only turns one `Batch` into requests and reports one `Result` per recipient (style.md §1).

A batch holds *one* rendered issue variant plus its recipients' merge values. Per-message providers
(outbox, SMTP, Postmark, Resend) call `batch.messages()`, which merges each recipient by string
substitution; merge providers (SendGrid, Mailgun) send the rendered issue once with the provider's own
substitution syntax.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from functools import cached_property
from typing import TYPE_CHECKING, Any

from campaign.config import Settings
from campaign.ledger.addresses import clean_name, has_utf8_local, wire_address, wire_problem
from campaign.series.merge import merge

if TYPE_CHECKING:  # (a type only: importing the renderer costs ~150 ms)
    from campaign.series.render import RenderedIssue

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Identity:
    """Who the mail is from (from schedule.yaml's campaign settings)."""

    from_: str
    reply_to: str | None
    list_id: str  # RFC 2919 List-Id, e.g. "<september.campaign.example.org>"
    message_stream: str = "broadcast"
    sender_id: str = "campaign"  # the last field of Feedback-ID: stable per list
    instance: str = ""  # a random part made once per database (delivery/identity.py): ids never repeat across them

    @cached_property  # parsed once: message_id() asks for it per recipient
    def from_domain(self) -> str:
        return parseaddr(self.from_)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str | None
    unsubscribe_url: str
    preferences_url: str = ""  # "Manage your emails" (empty: the unsubscribe URL stands in)

    @cached_property
    def wire_email(self) -> str:
        """The address with its domain in IDNA form (envelopes, headers, APIs)."""
        return wire_address(self.email)

    @property
    def address(self) -> str:
        """`Name <addr>` as plain UTF-8, the name quoted when it needs to be (JSON APIs; not a MIME header)."""
        return str(self.header_address()) if self.name else self.wire_email

    def header_address(self) -> Address:
        """The To header's value: the email package quotes and encodes the name as the policy requires."""
        local, _, domain = self.wire_email.rpartition("@")
        return Address(self.name or "", local, domain)

    def refusal(self, *, utf8_local: bool) -> str | None:
        """Why this recipient cannot be sent to by a transport (None: it can); checked before any request."""
        if has_utf8_local(self.email) and not utf8_local:
            return (
                f"{self.email}: the address has a non-ASCII local part, which this provider does not accept "
                "(only SMTP with SMTPUTF8 and the outbox do)"
            )
        if problem := wire_problem(self.email):
            return problem
        try:
            self.wire_email  # noqa: B018 (computes and caches the IDNA form)
        except ValueError as err:
            return str(err)
        if self.name is not None and clean_name(self.name) != self.name:
            return f"{self.email}: the display name holds control characters (clean it with `clean_name`)"
        return None


@dataclass(frozen=True)
class OutgoingMessage:
    recipient: Recipient
    subject: str
    html: str
    text: str
    headers: dict[str, str]  # From, To, Subject excluded: see `envelope_headers`


@dataclass(frozen=True)
class Batch:
    batch_id: str
    issue: RenderedIssue
    recipients: tuple[Recipient, ...]
    identity: Identity
    sent_at: datetime  # the Date header: the (possibly simulated) time of sending
    subject_prefix: str = ""  # "[Test] " for test sends
    metadata: dict = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.subject_prefix + self.issue.subject

    def message_id(self, recipient: Recipient) -> str:
        # Deterministic per (database, issue, subscriber): a resend after a crash reuses it, so receiving servers
        # and clients can de-duplicate on it; the database's random part keeps two installations sending from
        # one domain from giving different people the same id.
        day = str(self.issue.day)  # ISO date; (runs per recipient: strftime alone costs ~4 µs)
        seed = f"{self.identity.instance}:{day}:{recipient.subscriber_id}:{self.subject_prefix}"
        digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
        return f"<{day.replace('-', '')}.{digest}@{self.identity.from_domain}>"

    @property
    def feedback_id(self) -> str:
        """Gmail's Feedback-ID (`CampaignID:CustomerID:MailTypeID:SenderID`, the last one required and stable):
        the issue's day, its crisis variant, the message stream, and the list. No personal data."""
        day = str(self.issue.day) + ("-test" if self.subject_prefix else "")
        return f"{day}:{self.issue.variant}:{self.identity.message_stream or 'broadcast'}:{self.identity.sender_id}"

    def common_headers(self, recipient: Recipient) -> dict[str, str]:
        """Headers every message carries, besides From/To/Subject (RFC 8058, RFC 2919, RFC 5322)."""
        headers = {
            "Date": format_datetime(self.sent_at),
            "Message-ID": self.message_id(recipient),
            "List-Unsubscribe": f"<{recipient.unsubscribe_url}>",
            "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
            "List-Id": self.identity.list_id,
            "Feedback-ID": self.feedback_id,
        }
        if self.identity.reply_to:
            headers["Reply-To"] = self.identity.reply_to
        return headers

    def messages(self) -> Iterator[OutgoingMessage]:
        for recipient in self.recipients:
            html, text = merge(
                self.issue.html,
                self.issue.text,
                unsubscribe_url=recipient.unsubscribe_url,
                name=recipient.name,
                preferences_url=recipient.preferences_url or None,
            )
            yield OutgoingMessage(recipient, self.subject, html, text, self.common_headers(recipient))


@dataclass(frozen=True)
class Result:
    subscriber_id: int
    ok: bool
    message_id: str | None = None
    error: str | None = None
    permanent: bool = False  # rejected for good (bad address, inactive recipient)
    suppress: bool = False  # also stop all future mail to this address (e.g. Postmark 406)
    unknown: bool = False  # may or may not have gone out (e.g. SMTP connection lost during DATA)


class Provider(ABC):
    name: str = "provider"
    max_batch: int = 100  # the provider's documented cap per request
    default_rate: float = 100.0  # messages per second when schedule.yaml sets none
    default_concurrency: int = 4  # requests in flight at once
    idempotent_batches: bool = False  # True when a retried batch can never be delivered twice (Resend)
    utf8_local: bool = False  # True when non-ASCII local parts (SMTPUTF8) can be delivered

    @classmethod
    def from_settings(cls, settings: Settings, campaign: Any = None) -> Provider:
        """Built from the environment; a missing or malformed setting is a ConfigurationError naming it."""
        raise NotImplementedError(cls.name)

    def refusal(self, recipient: Recipient) -> str | None:
        """Why `recipient` cannot be sent through this provider, before any request (None: it can)."""
        return recipient.refusal(utf8_local=self.utf8_local)

    @abstractmethod
    def send_batch(self, batch: Batch) -> Sequence[Result]:
        """Send one batch; return one Result per recipient, or raise a ProviderError for the whole batch."""

    def close(self) -> None:  # noqa: B027 (optional hook: most providers hold nothing to release)
        """Release connections."""


class AllAccepted(Sequence):
    """The answer of a provider that accepts a request all-or-nothing (SendGrid, Mailgun): every recipient
    accepted under one message id. It reads as a list of Results (made on demand); the sender records it in
    one statement from `subscriber_ids` instead of a thousand Result objects."""

    def __init__(self, batch: Batch, message_id: str | None):
        self.subscriber_ids = [r.subscriber_id for r in batch.recipients]
        self.message_id = message_id

    def __len__(self) -> int:
        return len(self.subscriber_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [Result(i, True, message_id=self.message_id) for i in self.subscriber_ids[index]]
        return Result(self.subscriber_ids[index], True, message_id=self.message_id)
