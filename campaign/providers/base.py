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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from functools import cached_property

from campaign.series.render import RenderedIssue

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Identity:
    """Who the mail is from (from schedule.yaml's campaign settings)."""

    from_: str
    reply_to: str | None
    list_id: str  # RFC 2919 List-Id, e.g. "<september.campaign.example.org>"
    message_stream: str = "broadcast"

    @cached_property  # parsed once: message_id() asks for it per recipient
    def from_domain(self) -> str:
        return parseaddr(self.from_)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str | None
    unsubscribe_url: str

    @property
    def address(self) -> str:
        return formataddr((self.name or "", self.email)) if self.name else self.email


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
        # Deterministic per (issue, subscriber): a resend after a crash reuses it, so receiving servers and
        # clients can de-duplicate on it.
        day = str(self.issue.day)  # ISO date; (runs per recipient: strftime alone costs ~4 µs)
        digest = hashlib.sha256(f"{day}:{recipient.subscriber_id}:{self.subject_prefix}".encode()).hexdigest()[:24]
        return f"<{day.replace('-', '')}.{digest}@{self.identity.from_domain}>"

    def common_headers(self, recipient: Recipient) -> dict[str, str]:
        """Headers every message carries, besides From/To/Subject (RFC 8058, RFC 2919, RFC 5322)."""
        headers = {
            "Date": format_datetime(self.sent_at),
            "Message-ID": self.message_id(recipient),
            "List-Unsubscribe": f"<{recipient.unsubscribe_url}>",
            "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
            "List-Id": self.identity.list_id,
        }
        if self.identity.reply_to:
            headers["Reply-To"] = self.identity.reply_to
        return headers

    def messages(self) -> Iterator[OutgoingMessage]:
        for recipient in self.recipients:
            html, text = self.issue.merge(unsubscribe_url=recipient.unsubscribe_url, name=recipient.name)
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

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[Result]:
        """Send one batch; return one Result per recipient, or raise a ProviderError for the whole batch."""

    def close(self) -> None:  # noqa: B027 (optional hook: most providers hold nothing to release)
        """Release connections."""
