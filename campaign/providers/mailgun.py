"""Mailgun: `POST /v3/<domain>/messages`, multipart/form-data, up to 1000 recipients per call.

- Auth: HTTP basic, user `api`, password MAILGUN_API_KEY; the sending domain is MAILGUN_DOMAIN. Base URL:
  MAILGUN_API_URL (EU domains: https://api.eu.mailgun.net).
- Batch sending: `recipient-variables` (JSON keyed by address) with `%recipient.…%` merge fields. Without
  it every recipient would see the whole To list — so it is always sent, even for one recipient.
- `h:List-Unsubscribe` is a recipient variable too, so each message names its own one-click URL.
- 200 `{"id", "message"}`: one id per call. 404 means the domain is unknown (often the wrong region) and stops
  the send like a bad key.
- Mailgun has been reported to deliver mail after answering 5xx, and has no idempotency key: a 500, 502 or 504
  is recorded as unknown rather than retried blindly. 503 and 429 are retried.
"""

from __future__ import annotations

import html as html_lib
import json
from urllib.parse import quote

import requests

from campaign.config import Settings
from campaign.errors import AuthenticationFailed
from campaign.providers.base import Batch, Result
from campaign.providers.http import HTTPProvider, HTTPRequest, all_ok, api_base_url, shared_headers
from campaign.series.render import DEFAULT_NAME, NAME_HTML, NAME_TEXT, UNSUBSCRIBE_URL

DEFAULT_URL = "https://api.mailgun.net"


def _var(name: str) -> str:
    return f"%recipient.{name}%"


class MailgunProvider(HTTPProvider):
    name = "mailgun"
    max_batch = 1000  # recipients per call with recipient-variables
    default_rate = 1000.0
    default_concurrency = 4
    credential_variable = "MAILGUN_API_KEY"
    ambiguous_statuses = frozenset({500, 502, 504})

    def __init__(self, api_key: str, domain: str, base_url: str = DEFAULT_URL, *, concurrency: int | None = None):
        super().__init__(base_url, concurrency=concurrency)
        self.domain = domain
        self.session.auth = ("api", api_key)

    @classmethod
    def from_settings(cls, settings: Settings, campaign=None) -> MailgunProvider:
        key = settings.require("MAILGUN_API_KEY", "the Mailgun API key")
        domain = settings.require("MAILGUN_DOMAIN", "the Mailgun sending domain, e.g. mg.example.org")
        return cls(
            key,
            domain,
            api_base_url(settings, "MAILGUN_API_URL", DEFAULT_URL),
            concurrency=getattr(campaign, "concurrency", None),
        )

    def shared_fields(self, batch: Batch) -> list[tuple[str, str]]:
        html = batch.issue.html.replace(UNSUBSCRIBE_URL, _var("unsubscribe_url_html")).replace(
            NAME_HTML, _var("name_html")
        )
        text = batch.issue.text.replace(UNSUBSCRIBE_URL, _var("unsubscribe_url")).replace(NAME_TEXT, _var("name"))
        day = batch.issue.day.isoformat()
        fields = [
            ("from", batch.identity.from_),
            ("subject", batch.subject),
            ("text", text),
            ("html", html),
            ("h:List-Unsubscribe", f"<{_var('unsubscribe_url')}>"),
            *((f"h:{k}", v) for k, v in shared_headers(batch).items()),
            ("o:tag", day if not batch.subject_prefix else f"{day}-test"),
            ("o:tracking", "no"),
            ("v:issue", day),
        ]
        if batch.identity.reply_to:
            fields.append(("h:Reply-To", batch.identity.reply_to))
        return fields

    def build_request(self, batch: Batch) -> HTTPRequest:
        shared = self.cached((batch.issue, batch.subject, batch.identity), lambda: self.shared_fields(batch))
        variables = {}
        for r in batch.recipients:
            shown = (r.name or "").strip() or DEFAULT_NAME
            variables[r.email] = {
                "unsubscribe_url": r.unsubscribe_url,
                "unsubscribe_url_html": html_lib.escape(r.unsubscribe_url, quote=True),
                "name": shown,
                "name_html": html_lib.escape(shown, quote=True),
                "subscriber_id": r.subscriber_id,
            }
        fields = [
            *shared,
            *(("to", r.address) for r in batch.recipients),
            ("recipient-variables", json.dumps(variables, separators=(",", ":"))),
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

    def parse_results(self, response: requests.Response, batch: Batch) -> list[Result]:
        try:
            message_id = response.json().get("id")
        except (ValueError, AttributeError):
            message_id = None
        return all_ok(batch, message_id)
