"""Mailgun: `POST /v3/<domain>/messages`, multipart/form-data, one recipient per call.

- Auth: HTTP basic, user `api`, password MAILGUN_API_KEY; the sending domain is MAILGUN_DOMAIN. Base URL:
  MAILGUN_API_URL (EU domains: https://api.eu.mailgun.net).
- One message per call (`max_batch = 1`). Mailgun's batch sending documents `%recipient.…%` substitution in
  the subject and body, not in custom headers, and every message needs its own one-click `List-Unsubscribe`
  and a deterministic `Message-Id`: so each call carries one `to` and those headers literally (`h:`), the
  body already merged. No recipient-variables are needed with a single `to`. Throughput comes from
  `concurrency` (8 calls in flight by default) instead of batch size.
- 200 `{"id", "message"}`. 404 means the domain is unknown (often the wrong region) and stops the send like a
  bad key.
- Mailgun has been reported to deliver mail after answering 5xx, and has no idempotency key: a 500, 502 or 504
  is recorded as unknown rather than retried blindly (one recipient each). 503 and 429 are retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import requests

from campaign.config import Settings
from campaign.errors import AuthenticationFailed
from campaign.providers.base import Batch, Result
from campaign.providers.checks import api_base_url, require_credential
from campaign.providers.http import HTTPProvider, HTTPRequest, all_ok, shared_headers

DEFAULT_URL = "https://api.mailgun.net"


class MailgunProvider(HTTPProvider):
    name = "mailgun"
    max_batch = 1  # one message per call: per-recipient headers only as the docs promise (see above)
    default_rate = 1000.0
    default_concurrency = 8
    credential_variable = "MAILGUN_API_KEY"
    ambiguous_statuses = frozenset({500, 502, 504})

    def __init__(self, api_key: str, domain: str, base_url: str = DEFAULT_URL, *, concurrency: int | None = None):
        super().__init__(base_url, concurrency=concurrency)
        self.domain = domain
        self.session.auth = ("api", api_key)

    @classmethod
    def from_settings(cls, settings: Settings, campaign=None) -> MailgunProvider:
        key = require_credential(settings, "MAILGUN_API_KEY", "the Mailgun API key")
        domain = require_credential(settings, "MAILGUN_DOMAIN", "the Mailgun sending domain, e.g. mg.example.org")
        return cls(
            key,
            domain,
            api_base_url(settings, "MAILGUN_API_URL", DEFAULT_URL),
            concurrency=getattr(campaign, "concurrency", None),
        )

    def build_request(self, batch: Batch) -> HTTPRequest:
        (message,) = batch.messages()  # max_batch = 1: one recipient, its own headers
        day = batch.issue.day.isoformat()
        headers = {**message.headers, **shared_headers(batch)}
        headers.pop("Date", None)  # Mailgun stamps it
        fields = [
            ("from", batch.identity.from_),
            ("to", message.recipient.address),
            ("subject", message.subject),
            ("text", message.text),
            *((("html", message.html),) if message.html else ()),  # text-only: a reader's preference
            *((f"h:{name}", value) for name, value in headers.items()),
            ("o:tag", day if not batch.subject_prefix else f"{day}-test"),
            ("o:tracking", "no"),
            ("v:issue", day),
            ("v:subscriber_id", str(message.recipient.subscriber_id)),
        ]
        # (None, value): a plain form field, no filename — requests then encodes multipart/form-data.
        return HTTPRequest(
            f"/v3/{quote(self.domain, safe='')}/messages", files=[(name, (None, value)) for name, value in fields]
        )

    def check_status(self, response: requests.Response) -> None:
        if response.status_code == 404:
            raise AuthenticationFailed(
                f"mailgun does not know the domain {self.domain!r} (HTTP 404: {self.error_text(response)}) — check "
                "MAILGUN_DOMAIN, and MAILGUN_API_URL for the region (EU domains: https://api.eu.mailgun.net)",
                provider=self.name,
                status=404,
                body=self.error_text(response),
            )
        super().check_status(response)

    def parse_results(self, response: requests.Response, batch: Batch) -> Sequence[Result]:
        try:
            message_id = response.json().get("id")
        except (ValueError, AttributeError):
            message_id = None
        return all_ok(batch, message_id)
