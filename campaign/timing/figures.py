"""The series' figures in one structure: what `campaign status --json` prints, `/metrics` exports and
`/healthz` decides on. Counts and setting names only — no address, no secret.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from campaign.alerts.breaker import day_figures
from campaign.ledger.alerts import count_sent, event_counts
from campaign.ledger.states import FAILED, INFLIGHT, POSTPONED, QUEUED, READY, REJECTED, SENT, UNKNOWN
from campaign.ledger.views import SchedulerLedger
from campaign.series.project import Project
from campaign.timing.days import day_views, next_slot
from campaign.timing.pause import PAUSE_KEY, pause_windows
from campaign.timing.watchdog import HEARTBEAT_STALE, heartbeat_age


def series_figures(project: Project, store: SchedulerLedger, *, now: datetime) -> dict[str, Any]:
    schedule = project.schedule
    counts = store.delivery_counts()
    views = day_views(schedule, store, now=now, windows=pause_windows(store))
    days = []
    for view in views:
        c = counts.get(view.day, {})
        days.append(
            {
                "day": view.number,
                "date": view.day.isoformat(),
                "send_at": view.at.isoformat(),
                "state": view.state,
                "note": view.note,
                SENT: c.get(SENT, 0),
                "owed": view.owed,
                QUEUED: c.get(QUEUED, 0),
                FAILED: c.get(FAILED, 0),
                REJECTED: c.get(REJECTED, 0),
                UNKNOWN: c.get(UNKNOWN, 0) + c.get(INFLIGHT, 0),
            }
        )
    pause = store.get_state(PAUSE_KEY) or None
    upcoming = next_slot(views, now)
    if schedule.campaign.on_join:  # parts, not days: no send date or state of their own (cli/status_table.py)
        days, upcoming = _parts_figures(schedule, store, counts, now)
    figures = day_figures(store.engine, now)
    return {
        "campaign": schedule.campaign.name,
        "now": now.isoformat(),
        "days": days,
        "subscribers": dict(sorted(store.count_subscribers().items())),
        "waiting": [
            {"date": w.day.isoformat(), FAILED: w.failed, UNKNOWN: w.unknown, "settle": w.describe()}
            for w in store.waiting_by_day(list(schedule.dates)).values()
        ],
        "paused": pause,
        "breaker": {
            "tripped": bool(pause and pause.get("cause") == "breaker"),
            "limits": schedule.breaker.model_dump(),
            "figures": figures.as_counts() if figures else None,
        },
        "next_send": upcoming.at.isoformat() if upcoming else None,
        "scheduler_heartbeat_age_seconds": heartbeat_age(store, now),
        "webhook_events": event_counts(store.engine),
        "alerts_sent": count_sent(store.engine),
    }


def _parts_figures(schedule, store: SchedulerLedger, counts: dict, now: datetime) -> tuple[list[dict], Any]:
    from campaign.timing.evergreen import next_send_time

    started = set(store.edition_days().values())
    parts = [
        {
            "part": n,
            "state": "started" if day in started else "not started",
            SENT: counts.get(day, {}).get(SENT, 0),
            READY: counts.get(day, {}).get(READY, 0),
            POSTPONED: counts.get(day, {}).get(POSTPONED, 0),
            FAILED: counts.get(day, {}).get(FAILED, 0),
            REJECTED: counts.get(day, {}).get(REJECTED, 0),
            UNKNOWN: counts.get(day, {}).get(UNKNOWN, 0) + counts.get(day, {}).get(INFLIGHT, 0),
        }
        for n, day in enumerate(schedule.dates, 1)
    ]
    return parts, next_send_time(schedule, store, now)


def series_window(project: Project) -> tuple[datetime, datetime]:
    """From the first send time to the last one plus the grace window: when a scheduler must be running."""
    schedule = project.schedule
    if schedule.campaign.on_join:  # an evergreen series never ends: a scheduler must always be running
        return datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    first, last = schedule.send_at(schedule.dates[0]), schedule.send_at(schedule.dates[-1])
    return first - timedelta(hours=1), last + timedelta(minutes=schedule.campaign.misfire_grace_minutes)


def scheduler_health(project: Project, store: SchedulerLedger, *, now: datetime) -> str | None:
    """Why an uptime monitor should be told the scheduler is not alive (None: healthy). During the series a
    missing or stale heartbeat is unhealthy; before it, only a stale one (a scheduler ran and died); after
    it, nothing."""
    start, end = series_window(project)
    if now >= end:
        return None
    age = heartbeat_age(store, now)
    if age is None:
        return "no scheduler has run on this database (`campaign run`)" if now >= start else None
    if age > HEARTBEAT_STALE.total_seconds():
        return f"the scheduler's last heartbeat is {age:.0f} s old (over {HEARTBEAT_STALE.total_seconds():.0f} s)"
    return None
