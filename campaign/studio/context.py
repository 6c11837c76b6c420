"""What every studio request shares (`ctx()`), and the signed-in user of this request (`user()`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, g

from campaign.config import Settings
from campaign.ledger.accounts import User
from campaign.ledger.store import Store
from campaign.ledger.studio import StudioLedger
from campaign.web.csrf import Csrf
from campaign.web.ratelimit import RateLimiter

MAX_FRAMES = 200  # rendered previews kept for their iframes (oldest dropped first)


@dataclass
class StudioContext:
    settings: Settings
    store: Store
    ledger: StudioLedger
    clock: Callable[[], datetime]
    csrf: Csrf
    studio_url: str
    mailer: Any  # SigninMailer (or a test's stand-in with the same `submit`)
    links_per_address: RateLimiter
    links_per_client: RateLimiter
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # one save at a time
    frames: OrderedDict[str, str] = field(default_factory=OrderedDict)  # id -> preview HTML
    frames_lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_frame(self, frame_id: str, html: str) -> None:
        with self.frames_lock:
            self.frames[frame_id] = html
            while len(self.frames) > MAX_FRAMES:
                self.frames.popitem(last=False)

    def frame(self, frame_id: str) -> str | None:
        with self.frames_lock:
            return self.frames.get(frame_id)


def ctx() -> StudioContext:
    return current_app.extensions["studio"]


def user() -> User:
    """The signed-in user (routes behind `auth.signed_in` only)."""
    return g.studio_user
