"""A token bucket in messages per second, shared by every request of one send.

- `acquire(n)` takes n tokens before a request of n messages. A batch may be bigger than the burst: the
  bucket goes into debt and the caller waits until the debt is paid, so any batch size works with any rate.
- `hold(seconds)` makes every caller wait (a 429 with Retry-After limits the whole account, not one thread).
- `slow_down()` lowers the rate after a 429 (at most once per second, so one burst of 429s from requests
  that were in flight together counts once); `speed_up()` after a success climbs back towards the configured
  rate: additive increase, multiplicative decrease, as TCP does.

Clock and sleep are passed in, so tests run it on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_fraction: float = 0.05,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive (messages per second)")
        self.configured = float(rate)
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)  # one second's worth by default
        self.floor = self.configured * min_fraction
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self._not_before = self._stamp
        self._last_slow_down = float("-inf")

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def reserve(self, n: float) -> float:
        """Take n tokens now; return how many seconds the caller must wait before using them."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            self._tokens -= n
            debt_wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            return max(debt_wait, self._not_before - now, 0.0)

    def acquire(self, n: float, *, cancelled: Callable[[], bool] = lambda: False) -> float:
        """Block until n messages may be sent; returns the seconds waited. Waits in short steps so a
        cancelled send stops waiting promptly."""
        wait = self.reserve(n)
        waited = 0.0
        while waited < wait and not cancelled():
            step = min(wait - waited, 0.25)
            self.sleep(step)
            waited += step
        return waited

    def hold(self, seconds: float) -> None:
        """Nobody sends for `seconds` (the provider said so)."""
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + max(0.0, seconds))

    def slow_down(self, factor: float = 0.5) -> bool:
        """Lower the rate after a 429; returns False when it was lowered less than a second ago."""
        with self._lock:
            now = self.clock()
            if now - self._last_slow_down < 1.0:
                return False
            self._refill(now)
            self._last_slow_down = now
            self.rate = max(self.floor, self.rate * factor)
            return True

    def speed_up(self, step: float = 0.1) -> None:
        """Climb back towards the configured rate by `step` of it after a successful request."""
        with self._lock:
            self._refill(self.clock())
            self.rate = min(self.configured, self.rate + self.configured * step)
