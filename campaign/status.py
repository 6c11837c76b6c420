"""`campaign status`: what was sent, what is owed, what failed or is unknown, per day."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from .project import Project
from .store import FAILED, INFLIGHT, REJECTED, SENT, UNKNOWN, Store, utcnow


def status_table(project: Project, store: Store, *, now: datetime | None = None) -> list:
    now = now or utcnow()
    schedule = project.schedule
    counts = store.delivery_counts()
    issue_rows = store.issue_states()
    table = Table(title=f"{schedule.campaign.name} — {len(schedule.dates)} days, "
                        f"{schedule.campaign.send_time} {schedule.campaign.timezone}")
    for col in ("Day", "Date", "State", "Sent", "Owed", "Failed", "Rejected", "Unknown"):
        table.add_column(col, justify="left" if col in ("Date", "State") else "right")
    for day in schedule.dates:
        c = counts.get(day, {})
        send_at = schedule.send_at(day)
        owed = store.count_owed(day, send_at, at=max(now, send_at))
        row = issue_rows.get(day)
        state = (row.state if row and row.state else ("due" if send_at <= now else "scheduled"))
        if row and row.note:
            state += f" ({row.note})"
        unknown = c.get(UNKNOWN, 0) + c.get(INFLIGHT, 0)
        table.add_row(str(schedule.day_number(day)), f"{day:%a %d %b} {send_at:%H:%M %Z}", state,
                      str(c.get(SENT, 0)), str(owed), str(c.get(FAILED, 0)), str(c.get(REJECTED, 0)),
                      str(unknown))
    lines: list = [table]
    subs = store.count_subscribers()
    lines.append("subscribers: " + (", ".join(f"{k} {v}" for k, v in sorted(subs.items())) or "none"))
    pause = store.get_state("pause")
    if pause:
        lines.append(f"PAUSED since {pause.get('since')}: {pause.get('reason')} — `campaign resume` to continue")
    return lines
