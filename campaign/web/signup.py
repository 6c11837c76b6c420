"""Confirmed sign-up (double opt-in).

`GET /subscribe` shows the form; `POST /subscribe` (CSRF-checked, rate-limited per client address) records a
pending subscriber and queues the confirmation email; `GET /confirm/<token>` activates. Pending subscribers
are sent nothing else; an activated one has joined at the moment of confirmation, so they are owed the issues
sent from then on.

The answer to a sign-up is the same page whether the address is new, pending, active or unsubscribed, and
the email goes out on a background thread so the timing does not tell either. An unsubscribed (or bounced,
or complained) address comes back only through this confirmation; an old link followed after leaving again
does nothing.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, request

from campaign.ledger.csv_import import normalise_email
from campaign.ledger.store import ACTIVE
from campaign.web.context import current
from campaign.web.csrf import FIELD as CSRF_FIELD
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page

bp = Blueprint("signup", __name__)

RESEND_AFTER = timedelta(minutes=10)  # at most one confirmation email per address per 10 minutes
MAX_NAME = 200
OTHER_COUNTRY = "ZZ"  # ISO 3166 user-assigned "unknown": gets the international resources


def _countries():
    project = current().project
    return sorted(((code, c.name) for code, c in project.crisis.countries.items()), key=lambda item: item[1])


def _form(*, status: int = 200, error: str | None = None, values: dict | None = None):
    ctx = current()
    return render_page(
        "subscribe.html.j2",
        status=status,
        error=error,
        values=values or {},
        countries=_countries(),
        other_country=OTHER_COUNTRY,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf.token(),
    )


@bp.get("/subscribe")
def form():
    return _form()


@bp.post("/subscribe")
def subscribe():
    ctx = current()
    if not ctx.csrf.valid(request.form.get(CSRF_FIELD)):
        return error_response(
            400,
            title="Please try again",
            message="The sign-up form expired or was not sent from this site. Reload the form and submit it again.",
        )
    retry_after = ctx.signup_limiter.hit(request.remote_addr or "unknown")
    if retry_after is not None:
        return error_response(429, headers={"Retry-After": str(int(retry_after))})
    values = {k: (request.form.get(k) or "").strip() for k in ("email", "name", "country")}
    try:
        email = normalise_email(values["email"])
    except ValueError:
        return _form(
            status=400, values=values, error="Please enter a valid email address, for example name@example.org."
        )
    name = values["name"][:MAX_NAME] or None
    country = values["country"].upper() or None
    if country and country != OTHER_COUNTRY and country not in ctx.project.crisis.countries:
        return _form(status=400, values=values, error="Please choose a country from the list.")
    subscriber, send = ctx.store.request_signup(
        email, name=name, country=country, at=ctx.clock(), min_interval=RESEND_AFTER
    )
    if send:
        ctx.mailer.submit(subscriber)
    return render_page("subscribe_sent.html.j2", country=country)


@bp.get("/confirm/<token>")
def confirm(token: str):
    ctx = current()
    subscriber_id = ctx.tokens.read_confirm(token)
    if subscriber_id is None:
        return error_response(
            400,
            title="This confirmation link is not valid",
            message="Confirmation links work for 7 days and must be opened exactly as sent. "
            "You can sign up again to get a new one.",
        )
    now = ctx.clock()
    outcome = ctx.store.confirm_signup(subscriber_id, at=now)
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if outcome == "stale" or subscriber is None:
        return error_response(
            410,
            title="This confirmation link is no longer valid",
            message="There is no sign-up waiting for it. If you want to receive the series, please sign up again.",
        )
    if outcome == "activated":
        ctx.store.add_event(
            provider="web",
            kind="confirmed",
            email=subscriber.email,
            subscriber_id=subscriber.id,
            payload={"joined_at": now.isoformat()},
            at=now,
        )
    return render_page(
        "confirmed.html.j2", already=outcome != "activated" and subscriber.status == ACTIVE, country=subscriber.country
    )
