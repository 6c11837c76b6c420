"""Unsubscribe: RFC 8058 one-click, the confirm page behind the visible link, and "pause for 7 days".

- `POST /unsubscribe/<token>` with `List-Unsubscribe=One-Click` (form-encoded or multipart): what mail
  clients send (no cookies, no login, no redirect), and also what the page's confirm button sends.
  Idempotent; takes effect for every send that starts afterwards and for the rest of one in progress (the
  sender re-checks each subscriber's status when it claims a batch).
- `GET /unsubscribe/<token>`: a page with the confirm button and the gentler choice. A GET never changes
  anything: link scanners fetch every link in an email.
- `POST /unsubscribe/<token>/pause`: no email for 7 days, then the series resumes.
An altered or foreign token is a 400 and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, request

from campaign.ledger.states import PENDING, SUPPRESSED, UNSUBSCRIBED
from campaign.web.context import site
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page

bp = Blueprint("unsubscribe", __name__)

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
PAUSE = timedelta(days=7)

BAD_LINK = (
    "This unsubscribe link is not valid",
    "The link may have been changed or cut short when it was copied. Open it again from the email, "
    "or use the unsubscribe link in any other email from us.",
)


def _subscriber_id(token: str) -> int | None:
    return site().tokens.read_unsubscribe(token)


def _bad_link():
    return error_response(400, title=BAD_LINK[0], message=BAD_LINK[1])


def _is_one_click() -> bool:
    if request.form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE:
        return True
    # A client that posts the RFC 8058 body with a non-form content type still means it.
    return request.get_data(cache=False).strip() == f"{ONE_CLICK_FIELD}={ONE_CLICK_VALUE}".encode()


@bp.get("/unsubscribe/<token>")
def confirm_page(token: str):
    subscriber_id = _subscriber_id(token)
    if subscriber_id is None:
        return _bad_link()
    subscriber = site().store.subscriber_by_id(subscriber_id)
    already = subscriber is None or subscriber.status in SUPPRESSED
    return render_page(
        "unsubscribe.html.j2",
        token=token,
        already=already,
        country=subscriber.country if subscriber else None,
        one_click_field=ONE_CLICK_FIELD,
        one_click_value=ONE_CLICK_VALUE,
        pause_days=PAUSE.days,
        postpones=_postpones(),
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    subscriber_id = _subscriber_id(token)
    if subscriber_id is None:
        return _bad_link()
    if not _is_one_click():
        return error_response(
            400,
            title="Use the button to unsubscribe",
            message="This address expects the unsubscribe form. Open the link from the email and press the button.",
        )
    ctx = site()
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if subscriber is not None:
        now = ctx.clock()
        reason = (
            "one-click unsubscribe (RFC 8058)"
            if request.form.get("source") != "page"
            else "unsubscribed on the web page"
        )
        unsubscribe_from_the_web(subscriber, reason, at=now)
    # Same answer for an id we do not know (e.g. the link in a test copy): there is nothing left to stop.
    return render_page("unsubscribed.html.j2", country=subscriber.country if subscriber else None)


def _postpones() -> bool:
    """personal_pause: postpone — the reader resumes where they left off (else the paused days are skipped)."""
    return site().project.schedule.campaign.postpones


@bp.post("/unsubscribe/<token>/pause")
def pause(token: str):
    subscriber_id = _subscriber_id(token)
    if subscriber_id is None:
        return _bad_link()
    ctx = site()
    subscriber = ctx.store.subscriber_by_id(subscriber_id)
    if subscriber is None or subscriber.status in SUPPRESSED or subscriber.status == PENDING:
        return render_page("unsubscribed.html.j2", country=subscriber.country if subscriber else None)
    now = ctx.clock()
    until = now + PAUSE
    ctx.store.pause_and_hold(subscriber.id, until, postpone=_postpones(), at=now)
    ctx.store.add_event(
        provider="web",
        kind="pause",
        email=subscriber.email,
        subscriber_id=subscriber.id,
        payload={"until": until.isoformat()},
        at=now,
    )
    return render_page(
        "paused.html.j2",
        until=until,
        postpones=_postpones(),
        country=subscriber.country,
        token=token,
        one_click_field=ONE_CLICK_FIELD,
        one_click_value=ONE_CLICK_VALUE,
    )


def unsubscribe_from_the_web(subscriber, reason: str, *, at) -> None:
    """Suppress the reader (sticky: only a new confirmed sign-up brings them back) and record how they left."""
    store = site().store
    if store.suppress(subscriber.id, UNSUBSCRIBED, reason, at=at):
        store.add_event(
            provider="web",
            kind="unsubscribe",
            email=subscriber.email,
            subscriber_id=subscriber.id,
            payload={"how": reason},
            at=at,
        )
