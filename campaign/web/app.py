"""`create_app`: the Flask app behind `campaign serve` — configuration, hardening, and the route modules.

Hardening, in one place:
- security headers and a strict CSP on every response (security.py);
- request size limits (`MAX_CONTENT_LENGTH`, form limits) answered with a clean 413;
- no redirects but one: trailing-slash and double-slash redirects are switched off (werkzeug builds them
  from the Host header), and no route redirects to a URL taken from the request; links are built from
  CAMPAIGN_PUBLIC_URL only. The one redirect, `/r/<day>/<link-id>` (engagement: aggregate), goes only to a
  link of that day's archived page;
- every error a short page (or JSON for webhooks), never a stack trace (error_pages.py);
- a session cookie only on the sign-up form (CSRF), HttpOnly, SameSite=Lax, Secure under https.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlparse

from flask import Flask, abort, request
from flask.templating import Environment as FlaskEnvironment
from jinja2 import ChoiceLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from werkzeug.middleware.proxy_fix import ProxyFix

from campaign.clock import utcnow
from campaign.config import Settings
from campaign.delivery.tokens import Tokens
from campaign.errors import ConfigurationError, Problem
from campaign.ledger.views import SiteLedger
from campaign.series.render import first_number, how_html
from campaign.series.templating import SafeLoader
from campaign.web import error_pages, security
from campaign.web.context import SiteContext, site
from campaign.web.csrf import Csrf, FormScopedSession
from campaign.web.pages import render_page
from campaign.web.ratelimit import RateLimiter

log = logging.getLogger("campaign.web")

MAX_BODY = 1024 * 1024  # webhooks batch events; SendGrid posts at most ~768 KB at a time
MAX_FORM_MEMORY = 64 * 1024  # our forms hold a few short fields
SIGNUPS_PER_CLIENT = (5, 600)  # 5 sign-ups per client address per 10 minutes
PROXY_ENV = "CAMPAIGN_TRUSTED_PROXIES"


class SandboxedFlaskEnvironment(ImmutableSandboxedEnvironment, FlaskEnvironment):
    """Flask's template environment inside Jinja2's immutable sandbox: the web pages' templates, like the
    emails', cannot reach Python internals (`cycler.__init__.__globals__`) or change what they are given."""


class CampaignFlask(Flask):
    jinja_environment = SandboxedFlaskEnvironment


def _configure(app: Flask, settings: Settings) -> None:
    """Limits, cookies, keys and the template loader of the subscriber app."""
    # Our templates are *.html.j2, which Flask would not autoescape by default.
    app.jinja_options = {"autoescape": True, "undefined": StrictUndefined}
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY,
        MAX_FORM_PARTS=50,
        SESSION_COOKIE_NAME="campaign_form",
        SESSION_COOKIE_PATH="/subscribe",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=urlparse(settings.public_url).scheme == "https",
        JSON_SORT_KEYS=False,
    )
    # Separate keys per purpose, derived from CAMPAIGN_SECRET_KEY.
    app.secret_key = derive_key(settings.secret_key, "campaign.web.session")
    app.session_interface = FormScopedSession()
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    # templates/web first; templates/ for the partials shared with the emails (the crisis list)
    # (read like the email templates: regular files inside templates/ only, never a symlink)
    app.jinja_loader = ChoiceLoader([SafeLoader(settings.templates_dir / "web"), SafeLoader(settings.templates_dir)])
    app.jinja_env.filters["how_html"] = how_html
    app.jinja_env.filters["first_number"] = first_number


def create_app(
    settings: Settings,
    store: SiteLedger | None = None,
    *,
    project=None,
    clock: Callable[[], datetime] = utcnow,
    mailer=None,
    data_mailer=None,
    signups_per_client: tuple[int, float] = SIGNUPS_PER_CLIENT,
) -> Flask:
    """The web app. `store` is required and the project is loaded (and validated) now, so a broken schedule,
    template or webhook secret stops `campaign serve` before it listens. (The organisers' preview is the
    studio's now: `campaign studio`, campaign/studio/.)"""
    app = CampaignFlask("campaign.web", template_folder=str(settings.templates_dir / "web"), static_folder=None)
    _configure(app, settings)

    proxies = trusted_proxies(settings)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    security.install(app)
    error_pages.install(app)

    @app.before_request
    def _refuse_oversized_bodies():
        # Before any route logic (werkzeug alone checks only when the body is read, and some routes refuse
        # earlier for other reasons). A chunked body without a length is still cut off while being read.
        if (request.content_length or 0) > MAX_BODY:
            abort(413)

    tokens = Tokens(settings.secret_key)
    if store is None:
        raise ValueError("create_app needs a store")
    from campaign.delivery.as_sent import load_project_as_sent
    from campaign.delivery.confirm_mail import ConfirmationMailer
    from campaign.web.archive import bp as archive_bp
    from campaign.web.engagement import bp as engagement_bp
    from campaign.web.preferences import bp as preferences_bp
    from campaign.web.privacy import bp as privacy_bp
    from campaign.web.signup import bp as signup_bp
    from campaign.web.unsubscribe import bp as unsubscribe_bp
    from campaign.web.webhooks import bp as webhooks_bp
    from campaign.web.webhooks import load_webhooks

    project = project or load_project_as_sent(settings, store)
    if mailer is None:
        mailer = ConfirmationMailer(settings, project, store, tokens, clock=clock)
        mailer.check()
    if data_mailer is None:
        from campaign.delivery.data_mail import DataLinkMailer

        data_mailer = DataLinkMailer(settings, project, store, tokens, clock=clock, workers=1)
        data_mailer.check()
    app.extensions["campaign"] = SiteContext(
        settings,
        tokens,
        clock,
        store=store,
        project=project,
        mailer=mailer,
        signup_limiter=RateLimiter(*signups_per_client),
        csrf=Csrf(derive_key(settings.secret_key, "campaign.web.csrf")),
        webhooks=load_webhooks(settings),
        data_mailer=data_mailer,
    )
    from campaign.web.monitoring import bp as monitoring_bp

    blueprints = (unsubscribe_bp, preferences_bp, privacy_bp, archive_bp, engagement_bp, signup_bp, webhooks_bp)
    for bp in (*blueprints, monitoring_bp):
        app.register_blueprint(bp)

    app.add_url_rule("/", "home", lambda: render_page("home.html.j2"))
    app.add_url_rule("/healthz", "health", health)
    return app


def health():
    """200 while the database answers and, during the series, the scheduler's heartbeat is fresh; else 503."""
    from campaign.timing.figures import scheduler_health

    ctx = site()
    try:
        ctx.store.count_subscribers()  # the database answers
        unhealthy = scheduler_health(ctx.project, ctx.store, now=ctx.clock())  # and the scheduler is alive
    except Exception:  # a health check reports, it does not fail: 503 tells the proxy to wait
        log.exception("health check: the database does not answer")
        return {"ok": False}, 503
    if unhealthy:
        return {"ok": False, "scheduler": unhealthy}, 503
    return {"ok": True}


def server_options(settings: Settings) -> dict:
    """waitress settings that must agree with the app's: with no trusted proxy waitress strips X-Forwarded-*
    headers itself (belt and braces); behind one it must pass them through to ProxyFix."""
    return {
        "clear_untrusted_proxy_headers": trusted_proxies(settings) == 0,
        "max_request_body_size": 4 * MAX_BODY,  # above the app's limit: the app answers with a clean 413
        "ident": "campaign",
    }


def derive_key(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def trusted_proxies(settings: Settings) -> int:
    raw = settings.get(PROXY_ENV) or "0"
    if not raw.isdigit() or int(raw) > 5:
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                PROXY_ENV,
                f"{PROXY_ENV} must be the number of reverse proxies in front of `campaign serve` (0-5), got {raw!r}",
                f"export {PROXY_ENV}=1 behind one proxy (nginx, Caddy); 0 when none",
            )
        )
    return int(raw)
