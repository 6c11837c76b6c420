"""The provider's rate shared by every worker of a send: the token bucket lives in the database.

`SharedBucket` has `TokenBucket`'s interface. `acquire(n)` takes n tokens from the `rate_limits` row with
one `UPDATE … RETURNING` (ledger/rates.py) and waits off any debt, so N workers on any number of hosts
together stay under the rate. A 429's `hold` and the slow-down after it stay per process (the local bucket
below): each worker backs off when it is told to; the shared row is taken at the rate it currently allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from campaign.delivery.ratelimit import TokenBucket
from campaign.ledger.views import SenderLedger


class SharedBucket(TokenBucket):
    def __init__(
        self, store: SenderLedger, name: str, rate: float, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__(rate, sleep=sleep)
        self.store = store
        self.name = name

    def reserve(self, n: float) -> float:
        local = super().reserve(0)  # a hold after a 429 (this process), nothing taken locally
        with self._lock:
            rate = self.rate
        shared = self.store.take_tokens(self.name, n, rate=rate, burst=max(self.configured, n))
        return max(local, shared)
