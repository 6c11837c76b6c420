"""Confirmed sign-up (double opt-in) that only a person completes.

- `GET /subscribe` shows the form; `POST /subscribe` (CSRF-checked, rate-limited per client address) records
  a pending subscriber and queues the confirmation email. The form carries the reader's country and time
  zone (detected in the browser, editable, checked against the IANA list), so local-time delivery applies
  to web sign-ups; a sign-up from an address that is pending or has left updates both.
- `GET /confirm/<token>` only shows a page with a button — mail-security scanners fetch every link in an
  email, and a GET must not subscribe anybody. Its `POST` (CSRF-checked like the form, with a cookie scoped
  to /confirm) activates: an activated subscriber has joined at that moment, so they are owed the issues
  sent from then on.

The answer to a sign-up is the same page whether the address is new, pending, active or unsubscribed, and
the email goes out on a background thread so the timing does not tell either. An unsubscribed (or bounced,
or complained) address comes back only through this confirmation; an old link followed after leaving again
does nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import timedelta
from functools import lru_cache
from zoneinfo import available_timezones

from flask import Blueprint, request

from campaign.ledger.csv_import import normalise_email
from campaign.ledger.privacy import address_hash
from campaign.ledger.states import ACTIVE
from campaign.web.context import site
from campaign.web.csrf import FIELD as CSRF_FIELD
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.security import allow_page_script

bp = Blueprint("signup", __name__)

RESEND_AFTER = timedelta(minutes=10)  # at most one confirmation email per address per 10 minutes
MAX_NAME = 200
MAX_FIELD = 400  # any field longer than this is not a person typing
OTHER_COUNTRY = "ZZ"  # ISO 3166 user-assigned "unknown": gets the international resources
FIELDS = ("email", "name", "country", "timezone")

BAD_LINK = (
    "This confirmation link is not valid",
    "Confirmation links work for 7 days and must be opened exactly as sent. You can sign up again to get a new one.",
)
STALE_LINK = (
    "This confirmation link is no longer valid",
    "There is no sign-up waiting for it. If you want to receive the series, please sign up again.",
)
EXPIRED_FORM = (
    "Please try again",
    "The form expired or was not sent from this site. Reload the page and press the button again.",
)


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """Every IANA zone name this system knows (tzdata), e.g. Europe/London — no file paths, no POSIX rules."""
    return frozenset(available_timezones())


def wording_version() -> str:
    """The sign-up form's wording version, for the consent record: its template's name and content hash (any
    edit of what the reader was shown makes a new version)."""
    path = site().settings.templates_dir / "web" / "subscribe.html.j2"
    return _wording_version(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _wording_version(path: str, _mtime: int) -> str:
    with open(path, "rb") as f:
        return "subscribe.html.j2@" + hashlib.sha256(f.read()).hexdigest()[:12]


def clean_name(raw: str) -> str | None:
    """A display name safe for a header: control, format and separator characters (CR, LF, NUL, U+2028,
    zero-width, bidi controls …) become spaces, runs of spaces one; at most MAX_NAME characters."""
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in raw)
    return re.sub(r"\s+", " ", kept).strip()[:MAX_NAME] or None


def country_choices():
    project = site().project
    return sorted(((code, c.name) for code, c in project.crisis.countries.items()), key=lambda item: item[1])


def _form(*, status: int = 200, error: str | None = None, values: dict | None = None):
    ctx = site()
    allow_page_script()  # the one script: fill in the browser's time zone
    return render_page(
        "subscribe.html.j2",
        status=status,
        error=error,
        values=values or {},
        countries=country_choices(),
        other_country=OTHER_COUNTRY,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf.token(),
    )


@bp.get("/subscribe")
def form():
    return _form()


@bp.post("/subscribe")
def subscribe():
    ctx = site()
    if not ctx.csrf.valid(request.form.get(CSRF_FIELD)):
        return error_response(400, title=EXPIRED_FORM[0], message=EXPIRED_FORM[1])
    retry_after = ctx.signup_limiter.hit(request.remote_addr or "no-address")
    if retry_after is not None:
        return error_response(429, headers={"Retry-After": str(int(retry_after))})
    values = {k: (request.form.get(k) or "").strip()[:MAX_FIELD] for k in FIELDS}
    try:
        email = normalise_email(values["email"])
    except ValueError:
        return _form(
            status=400, values=values, error="Please enter a valid email address, for example name@example.org."
        )
    country = values["country"].upper() or None
    if country and country != OTHER_COUNTRY and country not in ctx.project.crisis.countries:
        return _form(status=400, values=values, error="Please choose a country from the list.")
    timezone = values["timezone"] or None
    if timezone and timezone not in iana_zones():
        return _form(
            status=400,
            values=values,
            error="Please enter a time zone such as Europe/London or America/Chicago, or leave it empty.",
        )
    subscriber, send = ctx.store.request_signup(
        email,
        name=clean_name(values["name"]),
        country=country,
        timezone=timezone,
        at=ctx.clock(),
        min_interval=RESEND_AFTER,
        consent_version=wording_version(),
    )
    if send:
        ctx.mailer.submit(subscriber)
    return render_page("subscribe_sent.html.j2", country=country)


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    """Asks; changes nothing (a link scanner that fetches it subscribes nobody)."""
    ctx = site()
    subscriber_id = ctx.tokens.read_confirm(token)
    if subscriber_id is None:
        return error_response(400, title=BAD_LINK[0], message=BAD_LINK[1])
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if subscriber is None:
        return error_response(410, title=STALE_LINK[0], message=STALE_LINK[1])
    if subscriber.status == ACTIVE:
        return render_page("confirmed.html.j2", already=True, country=subscriber.country)
    return render_page(
        "confirm.html.j2",
        token=token,
        country=subscriber.country,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf.token(),
    )


@bp.post("/confirm/<token>")
def confirm(token: str):
    ctx = site()
    subscriber_id = ctx.tokens.read_confirm(token)
    if subscriber_id is None:
        return error_response(400, title=BAD_LINK[0], message=BAD_LINK[1])
    if not ctx.csrf.valid(request.form.get(CSRF_FIELD)):
        return error_response(400, title=EXPIRED_FORM[0], message=EXPIRED_FORM[1])
    now = ctx.clock()
    outcome = ctx.store.confirm_signup(subscriber_id, at=now)
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if outcome == "stale" or subscriber is None:
        return error_response(410, title=STALE_LINK[0], message=STALE_LINK[1])
    if outcome == "activated":
        # an address erased earlier is a subscriber again by its own confirmed sign-up: no longer suppressed
        ctx.store.forget_erasure(address_hash(ctx.settings.secret_key, subscriber.email))
        ctx.store.add_event(
            provider="web",
            kind="confirmed",
            email=subscriber.email,
            subscriber_id=subscriber.id,
            payload={"joined_at": now.isoformat(), "timezone": subscriber.timezone, "country": subscriber.country},
            at=now,
        )
    return render_page(
        "confirmed.html.j2", already=outcome != "activated" and subscriber.status == ACTIVE, country=subscriber.country
    )
