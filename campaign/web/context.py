"""What every route needs (settings, store, tokens, clock, ...), built once by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from campaign.config import Settings
from campaign.delivery.tokens import Tokens
from campaign.ledger.store import Store

if TYPE_CHECKING:
    from campaign.delivery.confirm_mail import ConfirmationMailer
    from campaign.series.project import Project
    from campaign.web.csrf import Csrf
    from campaign.web.ratelimit import RateLimiter


@dataclass
class WebContext:
    settings: Settings
    store: Store | None  # None only in preview mode
    tokens: Tokens
    clock: Callable[[], datetime]
    project: Project | None = None  # loaded once at start-up (preview mode reloads per request)
    mailer: ConfirmationMailer | None = None
    signup_limiter: RateLimiter | None = None
    csrf: Csrf | None = None
    webhooks: dict[str, Any] = field(default_factory=dict)  # provider name -> configured verifier


def current() -> WebContext:
    return current_app.extensions["campaign"]
