"""Postmark: `POST /email/batch`, up to 500 messages per call, one JSON object per recipient.

- Auth: `X-Postmark-Server-Token` (POSTMARK_SERVER_TOKEN). Base URL: POSTMARK_API_URL.
- Newsletters go on a *broadcast* message stream (`campaign.message_stream`, default "broadcast").
- Postmark answers 200 even when single messages fail: each item of the answer has its own `ErrorCode`
  (0 accepted; 300 invalid request and 406 inactive recipient are permanent for that recipient, and 406 also
  suppresses the subscriber — Postmark already does). Other item codes fail that delivery, retryably.
- 429 carries no Retry-After: the sender backs off exponentially.
- Tracking is off: opens and clicks of a mental-health newsletter are nobody's business.
"""

from __future__ import annotations

import requests

from campaign.errors import AuthenticationFailed, OutcomeUnknown
from campaign.providers.base import Batch, Result
from campaign.providers.http import (
    HTTPProvider,
    HTTPRequest,
    fill_each,
    json_array,
    json_template,
    marked_parts,
    shared_headers,
    slot,
)

DEFAULT_URL = "https://api.postmarkapp.com"
PERMANENT_CODES = {300: "invalid email request", 406: "inactive recipient"}
BAD_TOKEN_CODE = 10  # "Bad or missing API token"


class PostmarkProvider(HTTPProvider):
    name = "postmark"
    max_batch = 500  # documented cap per /email/batch call (and 50 MB)
    default_rate = 2000.0  # Postmark publishes no number; a 429 lowers it further
    default_concurrency = 4
    credential_variable = "POSTMARK_SERVER_TOKEN"
    credential_purpose = "the Postmark server API token"
    api_url_variable = "POSTMARK_API_URL"
    default_url = DEFAULT_URL

    def __init__(self, token: str, base_url: str = DEFAULT_URL, *, concurrency: int | None = None):
        super().__init__(base_url, concurrency=concurrency)
        self.session.headers["X-Postmark-Server-Token"] = token

    def message_template(self, batch: Batch):
        html, text = marked_parts(batch)
        day = batch.issue.day.isoformat()
        headers = {
            "List-Unsubscribe": slot("list_unsubscribe"),
            **shared_headers(batch),
            "Message-ID": slot("message_id"),
        }
        shape = {
            "From": batch.identity.from_,
            "To": slot("to"),
            "Subject": batch.subject,
            "TextBody": text,
            "Headers": [{"Name": k, "Value": v} for k, v in headers.items()],
            "Tag": day if not batch.subject_prefix else f"{day}-test",
            "Metadata": {"issue": day, "subscriber_id": slot("subscriber_id")},
            "MessageStream": batch.identity.message_stream or "broadcast",
            "TrackOpens": False,
            "TrackLinks": "None",
        }
        if html:  # a text-only issue (a reader's preference) has no HTML body
            shape["HtmlBody"] = html
        if batch.identity.reply_to:
            shape["ReplyTo"] = batch.identity.reply_to
        return json_template(shape)

    def build_request(self, batch: Batch) -> HTTPRequest:
        template = self.cached((batch.issue, batch.subject, batch.identity), lambda: self.message_template(batch))
        body = json_array(fill_each(template, batch))
        return HTTPRequest("/email/batch", body, {"Content-Type": "application/json"})

    def check_status(self, response: requests.Response) -> None:
        if response.status_code == 422 and _error_code(response) == BAD_TOKEN_CODE:
            raise AuthenticationFailed(
                self.auth_failure_message(response), provider=self.name, status=422, body=self.error_text(response)
            )
        super().check_status(response)

    def parse_results(self, response: requests.Response, batch: Batch) -> list[Result]:
        try:
            items = response.json()
        except ValueError:
            items = None
        if not isinstance(items, list) or len(items) != len(batch.recipients):
            # Accepted (200) but we cannot tell which message got which answer: do not guess, do not resend.
            raise OutcomeUnknown(
                f"postmark answered 200 with an unreadable result for {len(batch.recipients)} messages",
                provider=self.name,
                status=response.status_code,
            )
        results = []
        for recipient, item in zip(batch.recipients, items, strict=False):
            code = int(item.get("ErrorCode", 0) or 0)
            if code == 0:
                results.append(Result(recipient.subscriber_id, True, message_id=item.get("MessageID")))
                continue
            reason = f"postmark ErrorCode {code}: {item.get('Message', PERMANENT_CODES.get(code, 'rejected'))}"
            results.append(
                Result(
                    recipient.subscriber_id,
                    False,
                    error=reason,
                    permanent=code in PERMANENT_CODES,
                    suppress=code == 406,
                )
            )
        return results


def _error_code(response: requests.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("ErrorCode") if isinstance(body, dict) else None
