"""Retry policy of one batch's request: which errors are retried, how long to wait, and when to give up.

5xx, connection failures and 429 are retried with exponential back-off and jitter (tenacity), bounded by
`RetryPolicy.attempts`. A 429 waits as told (Retry-After, X-RateLimit-Reset) and lowers the shared rate; an
answer that may mean "accepted" (OutcomeUnknown) is retried only where the provider de-duplicates. A stop cuts
a back-off short.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from campaign.delivery.ratelimit import TokenBucket
from campaign.errors import OutcomeUnknown, RateLimited, TransientProviderError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # requests per batch, the first included
    initial: float = 0.5  # first back-off in seconds; doubles each time, plus up to `initial` of jitter
    maximum: float = 30.0  # longest single back-off
    max_retry_after: float = 300.0  # a 429 asking for a longer wait fails the batch instead of blocking the send


class Retrier:
    """Builds the tenacity loop every worker runs; counts the retries across workers."""

    def __init__(
        self, policy: RetryPolicy, bucket: TokenBucket, *, idempotent: bool, cancelled: Callable[[], bool]
    ) -> None:
        self.policy = policy
        self.bucket = bucket
        self.idempotent = idempotent
        self.cancelled = cancelled
        self.retries = 0
        self._lock = threading.Lock()

    def loop(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._backoff,
            retry=retry_if_exception(self.retryable),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )

    def retryable(self, err: BaseException) -> bool:
        if isinstance(err, RateLimited):
            return err.retry_after is None or err.retry_after <= self.policy.max_retry_after
        if isinstance(err, OutcomeUnknown):  # the provider de-duplicates: a repeat is safe
            return self.idempotent and not err.final
        return isinstance(err, TransientProviderError)

    def _backoff(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return err.retry_after + random.uniform(0, 0.1 * max(err.retry_after, 1.0))
        return wait_exponential_jitter(
            multiplier=self.policy.initial, max=self.policy.maximum, jitter=self.policy.initial
        )(state)

    def _before_retry(self, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        with self._lock:
            self.retries += 1
        if isinstance(err, RateLimited):
            self.bucket.slow_down()
            if err.retry_after is not None:
                self.bucket.hold(err.retry_after)  # the limit is the account's: every worker waits

    def _sleep(self, seconds: float) -> None:
        """Back-off that a stop cuts short (the next attempt then sees the flag and gives the batch back)."""
        deadline = time.monotonic() + seconds
        while not self.cancelled() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
