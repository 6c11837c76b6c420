"""The preferences page ("Manage your emails" in every email's footer), behind its own signed token.

- `GET /preferences/<token>`: the reader's country, time zone and format, a pause of 7 or 14 days, their data
  (download, delete) and leaving. A GET changes nothing (link scanners fetch every link).
- `POST /preferences/<token>` saves country (one of the crisis list's, or "another country"), time zone (IANA)
  and format (HTML and text, or plain text only); `…/pause` pauses (`days` = 7 or 14); `…/leave` unsubscribes.
Every POST needs the token *and* the page's CSRF token (the cookie is scoped to /preferences); a change
takes effect for the next send, even of a day already queued (ledger/preferences.py). Works without scripts.
An altered, foreign or expired token, or an id out of range, is a 400 and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, request

from campaign.ledger.schema import TEXT_ONLY, variant_key
from campaign.ledger.states import PENDING, SUPPRESSED
from campaign.ledger.subscribers import Subscriber
from campaign.web.context import site
from campaign.web.csrf import FIELD as CSRF_FIELD
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.signup import EXPIRED_FORM, MAX_FIELD, OTHER_COUNTRY, country_choices, iana_zones
from campaign.web.unsubscribe import unsubscribe_from_the_web

bp = Blueprint("preferences", __name__)

PAUSES = (7, 14)
BAD_LINK = (
    "This link is not valid",
    "The link may have been changed, cut short when it was copied, or be older than six months. Open "
    "“Manage your emails” again from your latest email from us.",
)


def _bad_link():
    return error_response(400, title=BAD_LINK[0], message=BAD_LINK[1])


def reader(token: str) -> tuple[int | None, Subscriber | None]:
    """(id, subscriber) of a valid token — (None, None) for an invalid one; the subscriber is None when the id
    is unknown (a test copy's link) or erased."""
    ctx = site()
    subscriber_id = ctx.tokens.read_preferences(token, today=ctx.clock().date())
    if subscriber_id is None:
        return None, None
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if subscriber is not None and ctx.store.is_erased(subscriber_id):
        subscriber = None
    return subscriber_id, subscriber


def _gone(subscriber: Subscriber | None) -> bool:
    return subscriber is None or subscriber.status in SUPPRESSED


def _postpones() -> bool:
    return site().project.schedule.campaign.personal_pause == "postpone"


def page(token: str, subscriber: Subscriber | None, *, status: int = 200, saved: str | None = None, error=None):
    ctx = site()
    if _gone(subscriber):
        # a reader who left can still download or delete their data (GDPR Art. 15, 17); an erased one has none
        return render_page(
            "preferences.html.j2",
            status=status,
            gone=True,
            token=token,
            has_data=subscriber is not None,
            csrf_field=CSRF_FIELD,
            csrf_token=ctx.csrf.token() if subscriber is not None else "",
        )
    assert subscriber is not None
    paused_until = ctx.store.paused_until(subscriber.id)
    if paused_until is not None and paused_until <= ctx.clock():
        paused_until = None
    return render_page(
        "preferences.html.j2",
        status=status,
        gone=False,
        token=token,
        saved=saved,
        error=error,
        values={
            "country": subscriber.country or "",
            "timezone": subscriber.timezone or "",
            "text_only": ctx.store.subscriber_format(subscriber.id) == TEXT_ONLY,
        },
        pending=subscriber.status == PENDING,
        paused_until=paused_until,
        pauses=PAUSES,
        postpones=_postpones(),
        countries=country_choices(),
        other_country=OTHER_COUNTRY,
        csrf_field=CSRF_FIELD,
        csrf_token=ctx.csrf.token(),
        country=subscriber.country,
        has_data=True,
    )


def checked_post(token: str):
    """(subscriber, None) for a POST with a valid token and CSRF token; else (None, the 400 answer)."""
    subscriber_id, subscriber = reader(token)
    if subscriber_id is None:
        return None, _bad_link()
    if not site().csrf.valid(request.form.get(CSRF_FIELD)):
        return None, error_response(400, title=EXPIRED_FORM[0], message=EXPIRED_FORM[1])
    return subscriber, None


@bp.get("/preferences/<token>")
def show(token: str):
    subscriber_id, subscriber = reader(token)
    if subscriber_id is None:
        return _bad_link()
    return page(token, subscriber)


@bp.post("/preferences/<token>")
def save(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    if _gone(subscriber):
        return page(token, subscriber)
    assert subscriber is not None
    ctx = site()
    country = (request.form.get("country") or "").strip().upper()[:MAX_FIELD] or None
    timezone = (request.form.get("timezone") or "").strip()[:MAX_FIELD] or None
    format_ = request.form.get("format") or "html"
    if country and country != OTHER_COUNTRY and country not in ctx.project.crisis.countries:
        return page(token, subscriber, status=400, error="Please choose a country from the list.")
    if timezone and timezone not in iana_zones():
        return page(
            token, subscriber, status=400, error="Please enter a time zone such as Europe/London, or leave it empty."
        )
    if format_ not in ("html", TEXT_ONLY):
        return page(token, subscriber, status=400, error="Please choose one of the two email formats.")
    stored_format = TEXT_ONLY if format_ == TEXT_ONLY else None
    now = ctx.clock()
    ctx.store.set_preferences(
        subscriber.id,
        country=country,
        timezone=timezone,
        format_=stored_format,
        queue_variant=variant_key(ctx.project.variant_for(country), stored_format),
        at=now,
    )
    ctx.store.add_event(
        provider="web",
        kind="preferences",
        email=subscriber.email,
        subscriber_id=subscriber.id,
        payload={"country": country, "timezone": timezone, "format": format_},
        at=now,
    )
    return page(
        token, ctx.store.subscriber_by_id(subscriber.id), saved="Saved. Your next email follows these settings."
    )


@bp.post("/preferences/<token>/pause")
def pause(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    if _gone(subscriber) or subscriber is None or subscriber.status == PENDING:
        return page(token, subscriber)
    raw = request.form.get("days") or ""
    if not raw.isdigit() or int(raw) not in PAUSES:
        return page(token, subscriber, status=400, error="Please choose a pause of 7 or 14 days.")
    ctx = site()
    now = ctx.clock()
    until = now + timedelta(days=int(raw))
    ctx.store.pause_and_hold(subscriber.id, until, postpone=_postpones(), at=now)
    ctx.store.add_event(
        provider="web",
        kind="pause",
        email=subscriber.email,
        subscriber_id=subscriber.id,
        payload={"until": until.isoformat(), "days": int(raw)},
        at=now,
    )
    return page(token, subscriber, saved=f"Paused. We will not email you until {until:%-d %B %Y}.")


@bp.post("/preferences/<token>/leave")
def leave(token: str):
    subscriber, refused = checked_post(token)
    if refused is not None:
        return refused
    ctx = site()
    if subscriber is not None and not _gone(subscriber):
        now = ctx.clock()
        unsubscribe_from_the_web(subscriber, "unsubscribed on the preferences page", at=now)
    return render_page("unsubscribed.html.j2", country=subscriber.country if subscriber else None)
