"""What every route needs (settings, store, tokens, clock, ...), built once by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from ..config import Settings
from ..store import Store
from ..tokens import Tokens

if TYPE_CHECKING:
    from ..project import Project
    from .confirm_mail import ConfirmationMailer
    from .csrf import Csrf
    from .ratelimit import RateLimiter


@dataclass
class WebContext:
    settings: Settings
    store: Store | None                      # None only in preview mode
    tokens: Tokens
    clock: Callable[[], datetime]
    project: "Project | None" = None         # loaded once at start-up (preview mode reloads per request)
    mailer: "ConfirmationMailer | None" = None
    signup_limiter: "RateLimiter | None" = None
    csrf: "Csrf | None" = None
    webhooks: dict[str, Any] = field(default_factory=dict)   # provider name -> configured verifier


def current() -> WebContext:
    return current_app.extensions["campaign"]
