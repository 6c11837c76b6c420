"""Where an alert goes: a JSON POST to CAMPAIGN_ALERT_WEBHOOK_URL, and plain email to the operators (and, for
some kinds, the organisers) through the configured provider as transactional mail.

Transactional: the message goes to the addresses in schedule.yaml's `alerts:`, never through the subscriber
ledger; it has its own Message-ID and no unsubscribe headers; with the outbox it files into
`outbox/alerts/<alert id>/`. A channel raises `AlertNotSent` with a reason that names no secret (never the
webhook URL, which often *is* the secret) and no subscriber address.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from campaign.config import Settings
from campaign.errors import AlertNotSent, CampaignError
from campaign.providers.base import Batch, Identity, Provider, Recipient

WEBHOOK_TIMEOUT = 5.0  # seconds per attempt: an alert never waits long on a slow receiver


@dataclass(frozen=True)
class Alert:
    id: int | None  # None: could not be recorded (the database itself failed)
    kind: str
    day: date | None
    text: str
    campaign: str
    time: datetime
    counts: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The webhook body: `text` for Slack/Mattermost/Teams-style receivers, plus structured fields."""
        return {
            "text": f"[{self.campaign}] {self.text}",
            "kind": self.kind,
            "day": self.day.isoformat() if self.day else None,
            "counts": self.counts,
            "campaign": self.campaign,
            "time": self.time.isoformat(),
        }

    @property
    def subject(self) -> str:
        first = self.text.split("\n", 1)[0]
        label = "report" if self.kind == "report:day:sent" else "alert"
        return f"[{self.campaign}] {label}: {first[:110]}"


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, timeout: float = WEBHOOK_TIMEOUT):
        self._url = url
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        import requests

        try:
            response = requests.post(self._url, json=alert.payload(), timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as err:
            raise AlertNotSent(
                f"webhook unreachable ({type(err).__name__}) — check CAMPAIGN_ALERT_WEBHOOK_URL"
            ) from None
        if not 200 <= response.status_code < 300:
            raise AlertNotSent(f"webhook answered HTTP {response.status_code} — check CAMPAIGN_ALERT_WEBHOOK_URL")


class AlertBatch(Batch):
    """An alert's batch: its own Message-ID, no List-Unsubscribe (operators are not subscribers)."""

    def message_id(self, recipient: Recipient) -> str:
        return f"<alert.{self.batch_id}.{abs(hash(recipient.email)) % 10**8}@{self.identity.from_domain}>"

    def common_headers(self, recipient: Recipient) -> dict[str, str]:
        headers = super().common_headers(recipient)
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"):
            headers.pop(name, None)
        return headers


class EmailChannel:
    """Plain email to a few addresses, one message each, through a provider made for this one alert."""

    def __init__(
        self,
        name: str,
        addresses: list[str],
        *,
        make_provider: Callable[[Settings], Provider],
        settings: Settings,
        identity: Identity,
    ):
        self.name = name
        self.addresses = addresses
        self._make = make_provider
        self.settings = settings
        self.identity = identity

    def send(self, alert: Alert) -> None:
        from campaign.series.render import RenderedIssue

        folder = self.settings.outbox_dir / "alerts" / f"{alert.id or 0:06d}-{self.name}"
        provider = self._make(dataclasses.replace(self.settings, outbox_dir=folder))
        body = alert.text + f"\n\n— campaign ({alert.campaign}), {alert.time:%Y-%m-%d %H:%M} UTC\n"
        issue = RenderedIssue(
            day=alert.day or alert.time.date(),
            number=0,
            variant="alert",
            subject=alert.subject,
            preheader="",
            html=f"<!doctype html><html><body><pre>{html.escape(body)}</pre></body></html>",
            text=body,
        )
        recipients = tuple(Recipient(0, address, None, self.settings.public_url) for address in self.addresses)
        batch = AlertBatch(f"{alert.id or 0}-{self.name}", issue, recipients, self.identity, sent_at=alert.time)
        try:
            results = provider.send_batch(batch)
        except CampaignError as err:
            raise AlertNotSent(f"{self.name} email not sent: {err}") from None
        finally:
            provider.close()
        refused = [r for r in results if not r.ok]
        if refused:
            raise AlertNotSent(f"{self.name} email: {len(refused)} of {len(results)} refused: {refused[0].error}")
