"""A per-client sliding-window rate limit, in memory (one `campaign serve` process serves the site).

Used for sign-ups: the form is public and each accepted sign-up sends an email, so one client must not be
able to make us mail-bomb an address or exhaust the provider's quota.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED_CLIENTS = 50_000  # bound memory under a flood of distinct addresses


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> float | None:
        """Count one request from `client`. None when allowed; otherwise seconds until it would be."""
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > MAX_TRACKED_CLIENTS:
                self._forget_idle(now)
            return None

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        while len(self._hits) > MAX_TRACKED_CLIENTS:  # still too many: drop the oldest entries
            del self._hits[next(iter(self._hits))]
