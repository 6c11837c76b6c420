"""The scheduler's log: lines stamped with campaign time, and the wording of what it reports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import IO
from zoneinfo import ZoneInfo

from campaign.clock import humanize
from campaign.delivery.sender import SendReport
from campaign.series.project import Project
from campaign.timing.pause import PauseWindow
from campaign.timing.slots import Slot

log = logging.getLogger("campaign.scheduler")


class CampaignTimeFormatter(logging.Formatter):
    """Log lines stamped with campaign time (simulated in a rehearsal) in the campaign's zone."""

    def __init__(self, now: Callable[[], datetime], tz: ZoneInfo):
        super().__init__("%(asctime)s %(message)s")
        self.now, self.tz = now, tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        return f"{self.now().astimezone(self.tz):%Y-%m-%d %H:%M:%S %Z}"


def attach_log_handler(now: Callable[[], datetime], tz: ZoneInfo, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CampaignTimeFormatter(now, tz))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # APScheduler's own lines ("Run time of job … was missed by …") would only repeat ours.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return handler


def log_problems(header: str, problems: list[str]) -> None:
    log.error("%s", header)
    for line in problems:
        log.error("  %s", line)


def log_report(label: str, number: int, report: SendReport) -> None:
    """ "day 5, 2027-09-05 09:00 EDT: sent 20, failed 0, rejected 0 in 1 batch(es)" (+ what to do next)."""
    text = (
        f"{label}: sent {report.sent}, failed {report.failed}, rejected {report.rejected} in {report.batches} batch(es)"
    )
    if report.unknown:
        text += f"; {report.unknown} unknown (may or may not have gone out: see `campaign status`)"
    if report.failed:
        text += f" — retry the failed with `campaign send {number} --retry-failed`"
    (log.warning if report.failed or report.unknown else log.info)(text)


def log_started(project: Project, pid: int, provider: str, pause: PauseWindow | None) -> None:
    c = project.schedule.campaign
    how = "each subscriber's local time" if c.local_time else "campaign time"
    evergreen = f", {c.send_days and ', '.join(c.send_days) or 'every day'}, {c.days_between} day(s) apart at least"
    log.info(
        "scheduler started (pid %d): %d %s at %s %s (%s), grace %d min, provider %s%s",
        pid,
        len(project.schedule.dates),
        "parts from each reader's join (start: on_join)" if c.on_join else "days",
        c.send_time,
        c.timezone,
        how,
        c.misfire_grace_minutes,
        provider,
        evergreen if c.on_join else f", late joiners: {c.late_joiners}",
    )
    if pause is not None:
        log.warning(
            "the series is paused since %s (%s): send times are skipped until `campaign resume`",
            f"{pause.since.astimezone(c.tz):%Y-%m-%d %H:%M %Z}",
            pause.reason,
        )


def next_line(slot: Slot | None, now: datetime, tz: ZoneInfo) -> str:
    """ "next: day 1, 2027-09-01 09:00 EDT, in 277 days" — what `campaign run` prints while it waits."""
    if slot is None:
        return "next: nothing left to send — every scheduled day is sent, missed or skipped (see `campaign status`)"
    return f"next: {slot.describe(tz)}, " + (f"in {humanize(slot.at - now)}" if slot.at > now else "now")
