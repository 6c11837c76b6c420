"""Sign-in, sessions and the request guard of the studio.

- Sign-in is passwordless: `/studio/signin` takes an address and (when it has an account) emails a single-use
  link valid 15 minutes, stored only as a hash. The page answers the same, in the same time, for known and
  unknown addresses; link requests are limited per address (5 a minute) and per client.
- `GET /studio/signin/<token>` only shows a page with one "Sign in" button (mail scanners fetch links before
  the person does: nothing is used up). Its `POST` redeems the token, starts a fresh server-side session (a
  new id: no fixation) and redirects to `/studio/`.
- Flask's signed cookie (HttpOnly, SameSite=Strict, path /studio, Secure behind https) holds only the pointer
  to the session row and the CSRF nonce (web/csrf.py's synchroniser token).
- The guard (`install`): every studio URL but sign-in and static files needs a live session (preview frames
  too: besides their unguessable id, the browser sends the cookie when the page loads its sandboxed frame) —
  the API answers 401, pages redirect to sign-in — and every state-changing request needs the CSRF token (the
  `X-CSRF-Token` header, or the form's `csrf_token`) and, when the browser sends one, a same-site `Origin`.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, jsonify, redirect, request, session

from campaign.ledger.accounts import LINK_VALID
from campaign.ledger.addresses import normalise_email
from campaign.ledger.states import AuditTag
from campaign.studio.context import ctx
from campaign.studio.views import page

bp = Blueprint("studio_auth", __name__)

PUBLIC = ("/studio/signin", "/studio/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_EMAIL = 320


def client() -> str:
    return request.remote_addr or "no-address"


def audit(tag: AuditTag, *, user=None, email: str | None = None, **additional) -> None:
    c = ctx()
    c.ledger.record_event(
        tag,
        at=c.clock(),
        client=client(),
        user_id=user.id if user else None,
        email=user.email if user else email,
        additional=additional,
    )


def _is_public(path: str) -> bool:
    return path == "/studio/signin" or path.startswith(PUBLIC[0] + "/") or path.startswith(PUBLIC[1:])


def _origin_ok() -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(request.host_url)
    return origin == f"{host.scheme}://{host.netloc}"


def _refuse(code: int, message: str):
    if request.path.startswith("/studio/api/"):
        return jsonify({"error": message, "status": code}), code
    return page("message.html.j2", status=code, title=message, message=message)


def install(app: Flask) -> None:
    @app.before_request
    def _guard():
        path = request.path
        if not path.startswith("/studio"):
            return _refuse(404, "Not found")
        g.studio_user = None
        sid = session.get("sid")
        if isinstance(sid, str):
            g.studio_user = ctx().ledger.session_user(sid, at=ctx().clock())
        if g.studio_user is None and not _is_public(path):
            if path.startswith("/studio/api/"):
                return _refuse(401, "Sign in first")
            return redirect("/studio/signin", code=303)
        if request.method not in SAFE_METHODS:
            token = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
            if not _origin_ok() or not ctx().csrf.valid(token):
                return _refuse(403, "The form or token has expired: reload the page and try again")
        return None


@bp.get("/studio/signin")
def signin_form():
    return page("signin.html.j2", csrf_token=ctx().csrf.token())


@bp.post("/studio/signin")
def request_link():
    """Always the same answer; the email (if any) is sent in the background."""
    c = ctx()
    raw = (request.form.get("email") or "")[:MAX_EMAIL]
    try:
        address: str | None = normalise_email(raw, utf8_local=True)
    except ValueError:
        address = None  # not an address: nobody's account, answered like any unknown one
    limited = c.links_per_address.hit(address or raw.strip().lower()) is not None
    limited = c.links_per_client.hit(client()) is not None or limited
    user = c.ledger.user_by_email(address) if address else None
    if limited:
        audit(AuditTag.SIGNIN_LINK_REFUSED, user=user)
        return page("signin_sent.html.j2", status=429, limited=True)
    audit(AuditTag.SIGNIN_LINK_REQUESTED, user=user, known=user is not None)
    if user is not None:
        link = new_link(user.id)
        c.mailer.submit(user.email, link, int(LINK_VALID.total_seconds() // 60), c.clock())
    return page("signin_sent.html.j2", limited=False)


def new_link(user_id: int) -> str:
    """A fresh single-use sign-in URL for this user (only its hash is stored)."""
    c = ctx()
    token = secrets.token_urlsafe(32)
    c.ledger.add_signin_link(user_id, token, at=c.clock())
    return f"{c.studio_url}/studio/signin/{token}"


@bp.get("/studio/signin/<token>")
def signin_page(token: str):
    """Shows the button; uses nothing up."""
    c = ctx()
    if len(token) > 100 or c.ledger.link_user(token, at=c.clock()) is None:
        return page("link_invalid.html.j2", status=410)
    return page("signin_confirm.html.j2", csrf_token=c.csrf.token(), action=request.path)


@bp.post("/studio/signin/<token>")
def redeem(token: str):
    c = ctx()
    user = c.ledger.redeem_signin_link(token, at=c.clock()) if len(token) <= 100 else None
    if user is None:
        audit(AuditTag.SIGNIN_FAILURE, reason="link invalid, used, expired or its user removed")
        return page("link_invalid.html.j2", status=410)
    old = session.get("sid")
    if isinstance(old, str):
        c.ledger.end_session(old)
    session.clear()  # a fresh id and a fresh CSRF nonce: nothing from before the sign-in survives
    sid = secrets.token_urlsafe(32)
    c.ledger.add_session(user.id, sid, at=c.clock())
    session["sid"] = sid
    audit(AuditTag.SIGNIN_SUCCESS, user=user)
    return redirect("/studio/", code=303)


@bp.post("/studio/signout")
def signout():
    sid = session.get("sid")
    if isinstance(sid, str):
        ctx().ledger.end_session(sid)
    audit(AuditTag.SIGNOUT, user=g.studio_user)
    session.clear()
    return redirect("/studio/signin", code=303)
