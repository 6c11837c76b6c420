"""Campaign time: the wall clock, or a simulated one for tests and the rehearsal.

Simulated time runs from `start` at `speed` times the wall clock: `Clock(start=sep_1_0859, speed=1)` is a
clock that reads 08:59 on 1 September and ticks normally (restart tests); `speed=150_000` plays a month in
about 17 seconds (the rehearsal). APScheduler 3 reads the wall clock itself and offers no hook for another
one, so the scheduler hands it wall-clock run times (`to_wall`) and takes every decision in campaign time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def utcnow() -> datetime:
    """The one wall clock of the package: now, aware, in UTC."""
    return datetime.now(UTC)


@lru_cache(maxsize=1024)  # ZoneInfo keeps only a few zones strongly cached: re-reading tzdata is slow
def zone_of(name: str | None) -> ZoneInfo | None:
    """The one time-zone lookup: the IANA zone called `name`, or None when it is empty or unknown."""
    if not name or not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_hhmm(text: str) -> clock_time:
    """The one send-time parser: "09:00" (24-hour, two digits each) → time(9, 0); ValueError otherwise."""
    match = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM (24-hour)")
    return clock_time(int(match.group(1)), int(match.group(2)))


class Clock:
    def __init__(self, start: datetime | None = None, *, speed: float = 1.0):
        if start is not None and start.tzinfo is None:
            raise ValueError("Clock(start=...) needs an aware datetime")
        if speed <= 0:
            raise ValueError("Clock speed must be positive")
        self._wall0 = utcnow()
        self._sim0 = (start or self._wall0).astimezone(UTC)
        self.speed = float(speed)

    def restart(self) -> None:
        """Read `start` again from now on (a rehearsal starts when its scheduler does, not when it was set up)."""
        self._wall0 = utcnow()

    def now(self) -> datetime:
        return self._sim0 + (utcnow() - self._wall0) * self.speed

    def to_wall(self, instant: datetime) -> datetime:
        """The wall-clock moment at which this clock reads `instant`."""
        return self._wall0 + (instant - self._sim0) / self.speed

    def send_clock(self, scheduled: datetime) -> Callable[[], datetime]:
        """The clock a send started for `scheduled` uses (Date header, ledger times).

        At normal speed that is simply this clock: a day sent late is dated when it really went out. On an
        accelerated clock a few milliseconds of work would be many simulated minutes, so a send runs at
        normal speed from its scheduled instant: the rehearsal's messages are dated when they were due.
        """
        if self.speed == 1.0:
            return self.now
        started = time.monotonic()
        return lambda: scheduled + timedelta(seconds=time.monotonic() - started)


def humanize(delta: timedelta) -> str:
    """ "277 days", "5 hours", "12 minutes", "now" — for "next: …, in X"."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return "now" if seconds < 1 else f"{int(seconds)} seconds"
    if seconds < 2 * 3600:
        minutes = round(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 2 * 86400:
        hours = round(seconds / 3600)
        return f"{hours} hours"
    return f"{int(seconds // 86400)} days"
