"""`create_studio_app`: the organisers' Flask app behind `campaign studio` (127.0.0.1:8001 by default).

Separate from the subscriber pages (`campaign serve`): its own port, cookie and hostname behind a proxy. It
reuses web's hardening — security headers (web/security.py), the CSRF synchroniser token (web/csrf.py), the
sliding-window rate limit (web/ratelimit.py), the trusted-proxy rule — with a policy of its own for its pages:
scripts and styles only from /studio/static, fetch only to itself, frames only from itself. Previews of an
email open in `<iframe sandbox>` (no scripts, an opaque origin) from /studio/frame/<id>, served with the
email CSP (inline styles, no scripts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from flask import Flask, Response, jsonify, make_response, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from campaign.clock import utcnow
from campaign.config import Settings
from campaign.ledger.store import Store
from campaign.ledger.studio import StudioLedger
from campaign.studio import auth
from campaign.studio.context import StudioContext, ctx
from campaign.studio.views import page
from campaign.web import security
from campaign.web.app import CampaignFlask, derive_key, trusted_proxies
from campaign.web.csrf import Csrf
from campaign.web.ratelimit import RateLimiter

log = logging.getLogger("campaign.studio")

HERE = Path(__file__).parent
STUDIO_URL_ENV = "CAMPAIGN_STUDIO_URL"
DEFAULT_STUDIO_URL = "http://127.0.0.1:8001"
MAX_BODY = 1024 * 1024  # the article's text (512 KB at most) as JSON
LINKS_PER_ADDRESS = (5, 60.0)  # sign-in links asked for one address per minute
LINKS_PER_CLIENT = (20, 600.0)  # and by one client per 10 minutes
STUDIO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def studio_url(settings: Settings) -> str:
    return (settings.get(STUDIO_URL_ENV) or DEFAULT_STUDIO_URL).rstrip("/")


def _configure(app: Flask, settings: Settings, url: str) -> None:
    """Limits, the session pointer's cookie (HttpOnly, SameSite=Strict, Secure behind https), keys, proxies."""
    app.jinja_options = {"autoescape": True}
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        MAX_FORM_PARTS=20,
        SESSION_COOKIE_NAME="campaign_studio",
        SESSION_COOKIE_PATH="/studio",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=urlparse(url).scheme == "https",
        JSON_SORT_KEYS=False,
        SEND_FILE_MAX_AGE_DEFAULT=0,
    )
    app.secret_key = derive_key(settings.secret_key, "campaign.studio.session")
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    proxies = trusted_proxies(settings)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


def create_studio_app(
    settings: Settings,
    store: Store,
    *,
    clock: Callable[[], datetime] = utcnow,
    mailer=None,
    links_per_address: tuple[int, float] = LINKS_PER_ADDRESS,
) -> Flask:
    app = CampaignFlask(
        "campaign.studio",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/studio/static",
    )
    url = studio_url(settings)
    _configure(app, settings, url)
    app.jinja_env.filters["named"] = named
    app.jinja_env.filters["url_name"] = url_name
    if mailer is None:
        from campaign.delivery.as_sent import load_project_as_sent
        from campaign.studio.mailer import SigninMailer

        mailer = SigninMailer(settings, lambda: load_project_as_sent(settings, store))
    app.extensions["studio"] = StudioContext(
        settings,
        store,
        StudioLedger(store.engine),
        clock,
        Csrf(derive_key(settings.secret_key, "campaign.studio.csrf")),
        url,
        mailer,
        RateLimiter(*links_per_address),
        RateLimiter(*LINKS_PER_CLIENT),
    )

    @app.after_request
    def _same_origin_referrer(response: Response) -> Response:
        # Registered before web's headers, so it runs after them: web's "no-referrer" makes Chromium send
        # `Origin: null` with a form's POST, and the guard checks the Origin. Same-origin still sends nothing to
        # any other site (sign-in URLs carry a token).
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    security.install(app)

    @app.after_request
    def _studio_policy(response: Response) -> Response:  # runs before web's headers, which keep it
        response.headers.setdefault("Content-Security-Policy", STUDIO_CSP)
        return response

    auth.install(app)
    _errors(app)
    from campaign.studio.api import bp as api_bp
    from campaign.studio.article import bp as article_bp
    from campaign.studio.pages import bp as pages_bp

    for bp in (auth.bp, api_bp, article_bp, pages_bp):
        app.register_blueprint(bp)

    @app.get("/studio/frame/<frame_id>")
    def frame(frame_id: str):
        html = ctx().frame(frame_id)
        if html is None:
            return page("message.html.j2", status=404, title="This preview has expired", message="Preview again.")
        response = make_response(html, 200)
        response.mimetype = "text/html"
        return security.email_document(response, framable_by_self=True)

    return app


def _errors(app: Flask) -> None:
    def answer(code: int, title: str):
        if request.path.startswith("/studio/api/"):
            return jsonify({"error": title, "status": code}), code
        return page("message.html.j2", status=code, title=title, message=title)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return answer(error.code or 500, error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("studio: unexpected error on %s %s", request.method, request.path)
        return answer(500, "Something went wrong on our side")


def url_name(day) -> str:
    from campaign.series.parts import url_name as name

    return name(day)


def named(day, fmt: str) -> str:
    """A day as the pages show it: its date in `fmt`, or "Part 3" for a part of an evergreen series."""
    from campaign.series.parts import is_part_key, part_number

    return f"Part {part_number(day)}" if is_part_key(day) else day.strftime(fmt)
