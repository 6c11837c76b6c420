"""What every route needs, built once by `create_app`: `WebContext` for both apps (settings, tokens, clock),
`SiteContext` for the subscriber app (store, project, mailer, CSRF, rate limit, webhooks — all present)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from campaign.config import Settings
from campaign.delivery.tokens import Tokens
from campaign.ledger.views import SiteLedger

if TYPE_CHECKING:
    from campaign.series.project import Project
    from campaign.web.csrf import Csrf
    from campaign.web.ratelimit import RateLimiter
    from campaign.web.webhooks.protocol import WebhookProvider


@dataclass
class WebContext:
    settings: Settings
    tokens: Tokens
    clock: Callable[[], datetime]
    project: Project | None = None


@dataclass
class SiteContext(WebContext):
    """The subscriber app's context: loaded and validated at start-up, nothing missing."""

    store: SiteLedger = field(kw_only=True)
    project: Project = field(kw_only=True)  # never None here
    mailer: Any = field(kw_only=True)  # ConfirmationMailer (or a test's stand-in with submit/flush/close)
    signup_limiter: RateLimiter = field(kw_only=True)
    csrf: Csrf = field(kw_only=True)
    webhooks: dict[str, WebhookProvider] = field(kw_only=True, default_factory=dict)
    data_mailer: Any = field(kw_only=True, default=None)  # DataLinkMailer: "download my data" links


def current() -> WebContext:
    return current_app.extensions["campaign"]


def site() -> SiteContext:
    """The context of the subscriber app; only its routes call this."""
    ctx = current_app.extensions["campaign"]
    assert isinstance(ctx, SiteContext), "the subscriber app's context"
    return ctx
