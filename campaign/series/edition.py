"""A day's edition: the verified email of one day, rendered once when its send starts (pure).

When a day's send starts, the ledger stores what the day *looks like* beside what it *is* (series/frozen.py):
the inlined, verified HTML and the text part of every crisis variant, the web (archive) version, the subject
and preheader, and everything a sender needs that does not depend on the recipient — the sender identity and
headers, the provider settings schedule.yaml held (provider, rate, concurrency), who is owed the day (its send
time) and which crisis variant each country gets. From then on every send, worker, retry, archive page and
preview of that day merges the per-recipient values (series/merge.py) into this record; none reads templates,
content or schedule.yaml again, so a worker on another host needs only the database and its credentials.

A variant missing from the record (a country added to the crisis list after the day started) is rendered once
from the day's frozen content by a process that has the campaign folder, verified, added, and reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from campaign.series.plan import slug
from campaign.series.render import RenderedIssue

if TYPE_CHECKING:
    from campaign.series.project import Project

RECORD_VERSION = 1
INTERNATIONAL = "INTL"  # the variant of a country with no verified row (series/safety.py)


@dataclass(frozen=True)
class Headers:
    """The recipient-independent sender identity and list headers (RFC 2919 List-Id, Feedback-ID's sender)."""

    from_: str
    reply_to: str | None
    list_id: str
    message_stream: str
    sender_id: str


@dataclass(frozen=True)
class SendSettings:
    """The provider settings schedule.yaml held when the day started (CAMPAIGN_PROVIDER still overrides)."""

    provider: str
    rate_limit: float | None
    concurrency: int | None
    postpones: bool  # a reader's own pause holds their parts for later (personal_pause: postpone)
    from_start: bool = False  # a late joiner gets every part from part 1 (late_joiners: from_start)


@dataclass(frozen=True)
class Edition:
    day: date
    number: int
    subject: str
    preheader: str
    send_at: datetime  # subscribers who joined before it are owed the day
    countries: Mapping[str, str]  # country code -> crisis variant
    default_variant: str  # a subscriber with no country
    headers: Headers
    send: SendSettings
    web_html: str
    parts: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # variant -> (html, text)

    def variant_for(self, country: str | None) -> str:
        if not country:
            return self.default_variant
        return self.countries.get(country.upper(), INTERNATIONAL)

    @property
    def variants(self) -> list[str]:
        return sorted(set(self.countries.values()) | {self.default_variant, INTERNATIONAL})

    def has(self, variant: str) -> bool:
        return variant in self.parts

    def issue(self, variant: str) -> RenderedIssue:
        html, text = self.parts[variant]
        return RenderedIssue(self.day, self.number, variant, self.subject, self.preheader, html, text)

    def with_part(self, variant: str, html: str, text: str) -> Edition:
        return replace(self, parts={**self.parts, variant: (html, text)})

    def to_record(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "day": self.day.isoformat(),
            "number": self.number,
            "subject": self.subject,
            "preheader": self.preheader,
            "send_at": self.send_at.isoformat(),
            "countries": dict(self.countries),
            "default_variant": self.default_variant,
            "headers": vars(self.headers),
            "send": vars(self.send),
            "web_html": self.web_html,
            "parts": {variant: {"html": html, "text": text} for variant, (html, text) in self.parts.items()},
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Edition:
        return cls(
            day=date.fromisoformat(record["day"]),
            number=int(record["number"]),
            subject=record["subject"],
            preheader=record["preheader"],
            send_at=datetime.fromisoformat(record["send_at"]),
            countries=dict(record["countries"]),
            default_variant=record["default_variant"],
            headers=Headers(**record["headers"]),
            send=SendSettings(**record["send"]),
            web_html=record["web_html"],
            parts={v: (p["html"], p["text"]) for v, p in record["parts"].items()},
        )


def headers_for(campaign: Any) -> Headers:
    """schedule.yaml's campaign settings → the sender identity every message of the series carries."""
    from_domain = parseaddr(campaign.from_)[1].rpartition("@")[2].strip() or "localhost"
    list_slug = slug(campaign.name) or "campaign"
    return Headers(
        campaign.from_, campaign.reply_to, f"<{list_slug}.{from_domain}>", campaign.message_stream, list_slug
    )


def make_edition(project: Project, day: date) -> Edition:
    """Render `day` once per crisis variant (and once for the web), verified: the record its send starts with."""
    campaign = project.schedule.campaign
    countries = {code: project.variant_for(code) for code in project.crisis.countries}
    first = project.render(day, project.default_variant)
    edition = Edition(
        day=day,
        number=first.number,
        subject=first.subject,
        preheader=first.preheader,
        send_at=project.schedule.send_at(day),
        countries=countries,
        default_variant=project.default_variant,
        headers=headers_for(campaign),
        send=SendSettings(
            campaign.provider, campaign.rate_limit, campaign.concurrency, campaign.postpones, campaign.from_start
        ),
        web_html=project.render(day, web=True).html,
    )
    parts = {}
    for variant in edition.variants:
        issue = project.render(day, variant)
        parts[variant] = (issue.html, issue.text)
    return replace(edition, parts=parts)
