"""Resend: `POST /emails/batch`, up to 100 messages per call, with an `Idempotency-Key`.

- Auth: `Authorization: Bearer re_…` (RESEND_API_KEY). Base URL: RESEND_API_URL.
- The key is derived from the issue and the batch's contents (day, test prefix, batch id, recipients), and
  the payload is byte-for-byte reproducible (no Date header: Resend stamps it), so a batch sent again — a retry
  after a timeout, or the resend of a batch left in flight by a crash — is delivered at most once: Resend
  remembers the key for 24 hours and answers with the first response. That is why this provider, and only
  this one, has `idempotent_batches = True`.
- `x-batch-validation: permissive`: invalid items come back in `errors: [{index, message}]` and the rest
  are sent; `data` lists the ids of the accepted ones, in request order.
- 409: the key was used with a different body (the issue changed since the interrupted run) — the outcome
  is unknown, left to the operator — or the first request with the key is still running (retried).
- 429 carries `retry-after`; the default limit is 2 requests per second per team.
"""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from campaign.errors import OutcomeUnknown, TransientProviderError
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

DEFAULT_URL = "https://api.resend.com"


def idempotency_key(batch: Batch) -> str:
    """The same batch (issue, test prefix, batch id, recipients) always yields the same key (≤ 256 chars)."""
    digest = hashlib.sha256()
    digest.update(f"{batch.issue.day}|{batch.subject_prefix}|{batch.batch_id}".encode())
    for r in batch.recipients:
        digest.update(f"|{r.subscriber_id}:{r.email}".encode())
    return f"campaign-{batch.issue.day}-{digest.hexdigest()[:48]}"


class ResendProvider(HTTPProvider):
    name = "resend"
    max_batch = 100  # documented cap per /emails/batch call
    default_rate = 200.0  # 2 requests/s × 100 messages, Resend's default team limit
    default_concurrency = 2
    idempotent_batches = True
    credential_variable = "RESEND_API_KEY"
    credential_purpose = "the Resend API key (re_…)"
    api_url_variable = "RESEND_API_URL"
    default_url = DEFAULT_URL

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, *, concurrency: int | None = None):
        super().__init__(base_url, concurrency=concurrency)
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def message_template(self, batch: Batch):
        html, text = marked_parts(batch)
        day = batch.issue.day.isoformat()
        shape = {
            "from": batch.identity.from_,
            "to": [slot("to")],
            "subject": batch.subject,
            "text": text,
            "headers": {
                "List-Unsubscribe": slot("list_unsubscribe"),
                **shared_headers(batch),
                "Message-ID": slot("message_id"),
            },
            "tags": [
                {"name": "issue", "value": day if not batch.subject_prefix else f"{day}-test"},
                {"name": "subscriber_id", "value": slot("subscriber_id")},
            ],
        }
        if html:  # a text-only issue (a reader's preference) has no HTML part
            shape["html"] = html
        if batch.identity.reply_to:
            shape["reply_to"] = batch.identity.reply_to
        return json_template(shape)

    def build_request(self, batch: Batch) -> HTTPRequest:
        template = self.cached((batch.issue, batch.subject, batch.identity), lambda: self.message_template(batch))
        body = json_array(fill_each(template, batch))
        return HTTPRequest(
            "/emails/batch",
            body,
            {
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key(batch),
                "x-batch-validation": "permissive",
            },
        )

    def check_status(self, response: requests.Response) -> None:
        if response.status_code == 409:
            text = self.error_text(response)
            kw: dict[str, Any] = {"provider": self.name, "status": 409, "body": text}
            if "concurrent" in _error_name(response):
                raise TransientProviderError(
                    f"resend: the first request with this idempotency key is still running: {text}", **kw
                )
            conflict = OutcomeUnknown(
                f"resend: idempotency key reused with a different body ({text}); the issue "
                "changed since the batch was first sent — check Resend's log before "
                "`--resend-unknown`",
                **kw,
            )
            conflict.final = True  # asking again with the same key can only get the same answer
            raise conflict
        super().check_status(response)

    def parse_results(self, response: requests.Response, batch: Batch) -> list[Result]:
        try:
            body = response.json()
            data = list(body.get("data") or [])
            errors = {int(e["index"]): str(e.get("message", "rejected")) for e in body.get("errors") or []}
        except (ValueError, AttributeError, KeyError, TypeError):
            data, errors = None, {}
        if data is None or len(data) + len(errors) != len(batch.recipients):
            raise OutcomeUnknown(
                f"resend answered {response.status_code} with an unreadable result for "
                f"{len(batch.recipients)} messages",
                provider=self.name,
                status=response.status_code,
            )
        ids = iter(data)
        results = []
        for index, recipient in enumerate(batch.recipients):
            if index in errors:
                results.append(
                    Result(recipient.subscriber_id, False, error=f"resend rejected it: {errors[index]}", permanent=True)
                )
            else:
                item = next(ids)
                results.append(
                    Result(recipient.subscriber_id, True, message_id=item.get("id") if isinstance(item, dict) else None)
                )
        return results


def _error_name(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("name", "")) if isinstance(body, dict) else ""
