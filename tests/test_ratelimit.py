"""The token bucket on a fake clock, and reading the providers' rate-limit hints."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from campaign.delivery.ratelimit import TokenBucket
from campaign.providers.http import retry_after_seconds


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def bucket(rate=100.0, **kw):
    clock = FakeClock()
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kw), clock


def test_a_full_bucket_lets_one_seconds_worth_through_at_once():
    b, clock = bucket(100)
    assert b.acquire(60) == 0 and b.acquire(40) == 0
    assert clock.slept == []


def test_beyond_the_burst_callers_wait_for_the_debt():
    b, clock = bucket(100)
    b.acquire(100)
    assert b.acquire(50) == pytest.approx(0.5)
    assert clock.now == pytest.approx(1000.5)


def test_a_batch_bigger_than_the_burst_still_passes_at_the_average_rate():
    b, clock = bucket(100)
    for _ in range(4):  # 4 × 500 messages at 100/s: 20 s, minus the first second's burst
        b.acquire(500)
    assert clock.now - 1000.0 == pytest.approx(19.0)


def test_refill_is_capped_at_the_burst():
    b, clock = bucket(100)
    clock.now += 3600
    b.acquire(100)
    assert b.acquire(100) == pytest.approx(1.0)


def test_hold_makes_every_caller_wait_as_the_provider_asked():
    b, clock = bucket(1000)
    b.hold(2.5)
    assert b.acquire(1) == pytest.approx(2.5)
    assert b.acquire(1) == 0  # the hold has passed


def test_slow_down_halves_at_most_once_a_second_and_never_below_the_floor():
    b, clock = bucket(1000)
    assert b.slow_down() and b.rate == 500
    assert not b.slow_down() and b.rate == 500  # four 429s from requests in flight together count once
    for _ in range(10):
        clock.now += 1.0
        b.slow_down()
    assert b.rate == pytest.approx(1000 * 0.05)


def test_speed_up_climbs_back_to_the_configured_rate_and_no_further():
    b, clock = bucket(1000)
    b.slow_down()
    for _ in range(3):
        b.speed_up()
    assert b.rate == pytest.approx(800)
    for _ in range(10):
        b.speed_up()
    assert b.rate == 1000


def test_a_cancelled_wait_returns_early():
    b, clock = bucket(10)
    b.acquire(10)
    waited = b.acquire(100, cancelled=lambda: clock.now > 1001.0)
    assert waited < 10 and clock.now < 1002


def test_concurrent_callers_share_one_rate_in_real_time():
    import time

    b = TokenBucket(1000.0, burst=100)
    threads = [threading.Thread(target=b.acquire, args=(100,)) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    elapsed = time.monotonic() - started
    assert 0.65 <= elapsed < 1.5  # 800 messages, 100 free, 700 at 1000/s


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(0)


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        (
            {"Retry-After": format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=30), usegmt=True)},
            30.0,
        ),
        ({"X-RateLimit-Reset": str(int(NOW + 12))}, 12.0),  # SendGrid: epoch seconds
        ({"RateLimit-Reset": "3"}, 3.0),  # Resend / IETF draft: seconds from now
        ({"Retry-After": "-4"}, 0.0),
        ({"X-RateLimit-Reset": str(int(NOW - 5))}, 0.0),
        ({}, None),  # Postmark says nothing
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_from_each_providers_headers(headers, expected):
    import requests.structures

    got = retry_after_seconds(requests.structures.CaseInsensitiveDict(headers), now=NOW)
    assert got == (pytest.approx(expected, abs=1.0) if expected is not None else None)
