"""`campaign status`: what was sent, what is owed, what failed or is unknown, per day."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from campaign.clock import humanize, utcnow
from campaign.ledger.pending import waiting_by_day
from campaign.ledger.store import FAILED, INFLIGHT, REJECTED, SENT, UNKNOWN, Store
from campaign.series.project import Project
from campaign.timing.days import day_views, next_slot
from campaign.timing.pause import pause_windows


def status_table(project: Project, store: Store, *, now: datetime | None = None) -> list:
    now = now or utcnow()
    schedule = project.schedule
    counts = store.delivery_counts()
    # State and owed per day from the ledger, the pause history and the clock (campaign.timing.days): due,
    # sending, sent, missed (overdue beyond misfire_grace_minutes), skipped (inside a pause), scheduled.
    views = {v.day: v for v in day_views(schedule, store, now=now, windows=pause_windows(store))}
    table = Table(
        title=f"{schedule.campaign.name} — {len(schedule.dates)} days, "
        f"{schedule.campaign.send_time} {schedule.campaign.timezone}"
    )
    for col in ("Day", "Date", "State", "Sent", "Owed", "Failed", "Rejected", "Unknown"):
        table.add_column(col, justify="left" if col in ("Date", "State") else "right")
    for day in schedule.dates:
        c = counts.get(day, {})
        view = views[day]
        send_at = view.at  # moved later when a pause was caught up
        owed = view.owed
        state = view.state + (f" ({view.note})" if view.note else "")
        unknown = c.get(UNKNOWN, 0) + c.get(INFLIGHT, 0)
        table.add_row(
            str(schedule.day_number(day)),
            f"{send_at:%d %b} {send_at:%H:%M}",
            state,
            str(c.get(SENT, 0)),
            str(owed),
            str(c.get(FAILED, 0)),
            str(c.get(REJECTED, 0)),
            str(unknown),
        )
    lines: list = [table]
    subs = store.count_subscribers()
    lines.append("subscribers: " + (", ".join(f"{k} {v}" for k, v in sorted(subs.items())) or "none"))
    readers, parts = store.behind_summary(schedule.dates)
    if parts:
        lines.append(
            f"postponed by readers' own pauses: {parts} part(s) for {readers} reader(s) — each resumes where they "
            "left off, one part a day at the send time (after the last day, too)"
        )
    for waiting in waiting_by_day(store.engine, list(schedule.dates)).values():
        lines.append(f"waiting: day {schedule.day_number(waiting.day)} {waiting.describe()}")
    pause = store.get_state("pause")
    if pause:
        lines.append(f"PAUSED since {pause.get('since')}: {pause.get('reason')} — `campaign resume` to continue")
    upcoming = next_slot(list(views.values()), now)
    if upcoming is not None:
        lines.append(
            f"next: {upcoming.describe(schedule.campaign.tz)}, in {humanize(upcoming.at - now)}"
            + (" (held: the series is paused)" if pause else "")
        )
    return lines
