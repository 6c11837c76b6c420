"""SendGrid v3: `POST /v3/mail/send` — one shared `content`, up to 1000 `personalizations`.

- Auth: `Authorization: Bearer` (SENDGRID_API_KEY). Base URL: SENDGRID_API_URL.
- The HTML and text travel once per call; each personalization carries the recipient's `substitutions`
  (our render placeholders are SendGrid substitution keys) and its own `List-Unsubscribe` header.
- Substitutions replace a key in every part, so the parts are given distinct keys once per variant: in the
  HTML the URL and name are HTML-escaped (`__UNSUBSCRIBE_URL_HTML__`, `__NAME_HTML__`), in text they are not.
- 202 with `X-Message-Id` and an empty body: all-or-nothing, one id for the whole request.
- The same address twice in one request is a 400: a batch with a repeated address goes out in several calls.
- 429 carries `X-RateLimit-Reset` (epoch seconds).
- Names go as plain UTF-8 in `to[].name`; a name holding `,` or `;` is sent as a quoted string
  (`payload.quoted_name`): SendGrid has dropped such mail otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from email.utils import parseaddr

import requests

from campaign.providers.base import Batch, Recipient, Result
from campaign.providers.http import HTTPProvider, HTTPRequest, all_ok, fill_each, json_template, shared_headers, slot
from campaign.series.merge import NAME_HTML, NAME_TEXT, PREFERENCES_URL, UNSUBSCRIBE_URL, Fill, substitute

DEFAULT_URL = "https://api.sendgrid.com"
UNSUBSCRIBE_URL_HTML = "__UNSUBSCRIBE_URL_HTML__"
PREFERENCES_URL_HTML = "__PREFERENCES_URL_HTML__"


class SendGridProvider(HTTPProvider):
    name = "sendgrid"
    max_batch = 1000  # personalizations (and recipients) per request
    default_rate = 10_000.0
    default_concurrency = 4
    credential_variable = "SENDGRID_API_KEY"
    credential_purpose = "the SendGrid API key with Mail Send permission"
    api_url_variable = "SENDGRID_API_URL"
    default_url = DEFAULT_URL

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, *, concurrency: int | None = None):
        super().__init__(base_url, concurrency=concurrency)
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def templates(self, batch: Batch):
        """(the request minus its personalizations, one personalization with a name, one without)."""
        issue = batch.issue
        html, text = substitute(
            issue.html,
            issue.text,
            Fill(UNSUBSCRIBE_URL_HTML, NAME_HTML, UNSUBSCRIBE_URL, NAME_TEXT, PREFERENCES_URL_HTML, PREFERENCES_URL),
        )
        from_name, from_email = parseaddr(batch.identity.from_)
        day = issue.day.isoformat()
        shared = {
            "from": {"email": from_email, **({"name": from_name} if from_name else {})},
            "subject": batch.subject,
            # a text-only issue (a reader's preference) has no HTML part
            "content": [{"type": "text/plain", "value": text}]
            + ([{"type": "text/html", "value": html}] if html else []),
            "headers": shared_headers(batch),
            "categories": [day if not batch.subject_prefix else f"{day}-test"],
            "tracking_settings": {
                "click_tracking": {"enable": False},
                "open_tracking": {"enable": False},
                "subscription_tracking": {"enable": False},
            },
        }
        if batch.identity.reply_to:
            shared["reply_to"] = {"email": parseaddr(batch.identity.reply_to)[1]}
        personalization = {
            "to": [{"email": slot("email"), "name": slot("display_name")}],
            "substitutions": {
                UNSUBSCRIBE_URL: slot("unsubscribe"),
                UNSUBSCRIBE_URL_HTML: slot("unsubscribe_html"),
                NAME_TEXT: slot("name"),
                NAME_HTML: slot("name_html"),
                PREFERENCES_URL: slot("preferences"),
                PREFERENCES_URL_HTML: slot("preferences_html"),
            },
            "headers": {"List-Unsubscribe": slot("list_unsubscribe"), "Message-ID": slot("message_id")},
            "custom_args": {"issue": day, "subscriber_id": slot("subscriber_id")},
        }
        unnamed = {**personalization, "to": [{"email": slot("email")}]}
        rest = json.dumps(shared, separators=(",", ":")).encode("ascii")
        return rest[1:], json_template(personalization), json_template(unnamed)

    def build_request(self, batch: Batch) -> HTTPRequest:
        rest, named, unnamed = self.cached((batch.issue, batch.subject, batch.identity), lambda: self.templates(batch))
        people = b",".join(fill_each(named, batch, unnamed=unnamed))
        body = b'{"personalizations":[' + people + b"]," + rest
        return HTTPRequest("/v3/mail/send", body, {"Content-Type": "application/json"})

    def send_batch(self, batch: Batch) -> Sequence[Result]:
        groups = _unique_address_groups(batch)
        if len(groups) == 1:
            return super().send_batch(batch)
        results: list[Result] = []
        for group in groups:
            results.extend(super().send_batch(group))
        return results

    def parse_results(self, response: requests.Response, batch: Batch) -> Sequence[Result]:
        return all_ok(batch, response.headers.get("X-Message-Id"))


def _unique_address_groups(batch: Batch) -> list[Batch]:
    """Split a batch so no request names the same address twice (SendGrid answers 400 to the whole call)."""
    groups: list[tuple[set[str], list[Recipient]]] = []
    for recipient in batch.recipients:
        key = recipient.wire_email.lower()
        for group in groups:
            if key not in group[0]:
                group[0].add(key)
                group[1].append(recipient)
                break
        else:
            groups.append(({key}, [recipient]))
    if len(groups) == 1:
        return [batch]
    return [replace(batch, recipients=tuple(members)) for _, members in groups]
