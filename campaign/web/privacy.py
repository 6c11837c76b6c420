"""Readers' data from the preferences page: "Download my data" (access) and "Delete me" (erasure).

- `POST /preferences/<token>/export` emails the reader a signed link (a day) to their data; the page never
  shows it (a forwarded email's link must not hand it over). `GET /export/<token>` answers the JSON file.
- `POST /preferences/<token>/delete` asks again; `POST /preferences/<token>/delete/confirm` erases
  (ledger/privacy.py): address, name and every personal field, keeping only the keyed hash and unlinked counts.
Every POST needs the preferences token and the page's CSRF token (preferences.py).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, make_response

from campaign.errors import ErasureIncomplete
from campaign.ledger.states import BOUNCED, COMPLAINED
from campaign.web.context import site
from campaign.web.csrf import FIELD as CSRF_FIELD
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.preferences import checked_post, page

bp = Blueprint("privacy", __name__)
log = logging.getLogger("campaign.web")

BAD_DOWNLOAD = (
    "This download link is not valid",
    "Download links work for 24 hours and must be opened exactly as sent. Ask for a new one on the "
    "“Manage your emails” page.",
)


@bp.post("/preferences/<token>/export")
def request_export(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    if subscriber is None or subscriber.status in (BOUNCED, COMPLAINED):  # never email those addresses
        return page(token, subscriber)
    ctx = site()
    retry_after = ctx.signup_limiter.hit(f"data-link:{subscriber.id}")
    if retry_after is not None:
        return error_response(429, headers={"Retry-After": str(int(retry_after))})
    if ctx.data_mailer is not None:
        ctx.data_mailer.submit(subscriber)
    return render_page("privacy.html.j2", state="link_sent", token=token, country=subscriber.country)


@bp.get("/export/<token>")
def download(token: str):
    ctx = site()
    subscriber_id = ctx.tokens.read_export(token)
    if subscriber_id is None:
        return error_response(400, title=BAD_DOWNLOAD[0], message=BAD_DOWNLOAD[1])
    data = ctx.store.export_subscriber(subscriber_id)
    if data is None:
        return error_response(410)
    response = make_response(json.dumps(data, indent=2, ensure_ascii=False), 200)
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/preferences/<token>/delete")
def ask_delete(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    if subscriber is None:
        return page(token, subscriber)
    ctx = site()
    return render_page(
        "privacy.html.j2",
        state="confirm",
        token=token,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf.token(),
        country=subscriber.country,
    )


@bp.post("/preferences/<token>/delete/confirm")
def delete(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    ctx = site()
    country = subscriber.country if subscriber else None
    if subscriber is not None:
        ctx.store.erase_subscriber(subscriber.id, key=ctx.settings.secret_key, at=ctx.clock(), scrub=False)
        try:  # SQLite: the WAL truncated now; PostgreSQL's VACUUM is left to the daily purge (not in a request)
            ctx.store.scrub_files(vacuum=False)
        except ErasureIncomplete:
            log.warning("an erasure's WAL clean-up waits for the next purge (the database was busy)")
    return render_page("privacy.html.j2", state="deleted", token=token, country=country)
