"""`campaign status`: what was sent, what is owed, what failed or is unknown, per day."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from campaign.clock import humanize, utcnow
from campaign.ledger.states import FAILED, INFLIGHT, POSTPONED, QUEUED, READY, REJECTED, SENT, UNKNOWN
from campaign.ledger.store import Store
from campaign.series.parts import is_part_key, label
from campaign.series.project import Project
from campaign.timing.days import day_views, next_slot
from campaign.timing.pause import pause_windows
from campaign.timing.positions import overview, reader_parts


def spans(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1–3, 5"."""
    out: list[str] = []
    for n in numbers:
        if out and out[-1].rsplit("–", 1)[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('–')[0]}–{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def status_table(project: Project, store: Store, *, now: datetime | None = None) -> list:
    now = now or utcnow()
    schedule = project.schedule
    if schedule.campaign.on_join:
        return parts_status(project, store, now)
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
    if rendered := sorted(store.edition_days()):  # days whose verified email is stored (series/edition.py)
        lines.append(
            f"stored render (every later send, worker and archive page of the day uses it): day(s) {spans(rendered)}"
        )
    subs = store.count_subscribers()
    lines.append("subscribers: " + (", ".join(f"{k} {v}" for k, v in sorted(subs.items())) or "none"))
    readers, parts = store.behind_summary(schedule.dates)
    if parts:
        lines.append(
            f"postponed by readers' own pauses: {parts} part(s) for {readers} reader(s) — each resumes where they "
            "left off, one part a day at the send time (after the last day, too)"
        )
    lines += position_lines(project, store, now)
    pause = store.get_state("pause")
    lines += waiting_lines(project, store, "day", pause)
    upcoming = next_slot(list(views.values()), now)
    if upcoming is not None:
        lines.append(
            f"next: {upcoming.describe(schedule.campaign.tz)}, in {humanize(upcoming.at - now)}"
            + (" (held: the series is paused)" if pause else "")
        )
    return lines


def waiting_lines(project: Project, store: Store, unit: str, pause) -> list[str]:
    """Deliveries waiting for an operator (failed, unknown) per day or part, and the series pause."""
    schedule = project.schedule
    lines = [
        f"waiting: {unit} {schedule.day_number(w.day)} {w.describe()}"
        for w in store.waiting_by_day(list(schedule.dates)).values()
    ]
    if pause:
        lines.append(f"PAUSED since {pause.get('since')}: {pause.get('reason')} — `campaign resume` to continue")
    return lines


def position_lines(project: Project, store: Store, now: datetime) -> list[str]:
    """Where readers are: how many have had each number of parts, how many are behind the calendar (their
    own pause, or joined late with late_joiners: from_start), and the last date any reader gets a part."""
    view = overview(project.schedule, store, now)
    if not view.total:
        return []
    parts = " · ".join(
        f"{'all ' + str(n) if n == view.total else n}: {readers}" for n, readers in sorted(view.by_parts.items())
    )
    lines = [f"readers by parts had: {parts or 'none'}"]
    lines.append(
        f"behind: {view.behind} reader(s)"
        + (f" ({view.waiting} joined late and start at part 1 at their next send time)" if view.waiting else "")
        + (f"; last part goes out on {view.last_date:%Y-%m-%d}" if view.last_date else "")
    )
    return lines


def reader_table(project: Project, store: Store, email: str, *, now: datetime | None = None) -> list:
    """`campaign status --subscriber EMAIL`: one reader's parts — sent, next, and when. None: unknown address."""
    now = now or utcnow()
    who = store.subscriber_by_email(email)
    if who is None:
        return []
    tz = project.schedule.campaign.tz
    table = Table(title=f"{who.email} — {who.status}, joined {who.joined_at.astimezone(tz):%Y-%m-%d %H:%M %Z}")
    for col in ("Part", "Day", "Status", "When"):
        table.add_column(col, justify="right" if col == "Part" else "left")
    for line in reader_parts(project.schedule, store, who, now):
        when = f"{line.when.astimezone(tz):%Y-%m-%d %H:%M %Z}" if line.when else ""
        table.add_row(
            str(line.number), label(line.day) if is_part_key(line.day) else f"{line.day:%d %b}", line.status, when
        )
    return [table]


def parts_status(project: Project, store: Store, now: datetime) -> list:
    """start: on_join — no dates: each part with how many readers had it, have it ready or still ahead (a
    part is started, frozen and stored the first time anyone is given it), then where readers are."""
    from campaign.timing.evergreen import next_send_time

    schedule, c = project.schedule, project.schedule.campaign
    counts = store.delivery_counts()
    started = set(store.edition_days().values())
    days = f"on {', '.join(c.send_days)}" if c.send_days else "every day"
    table = Table(
        title=f"{c.name} — {len(schedule.dates)} parts from each reader's join (start: on_join), {c.send_time} "
        f"{'each reader' + chr(39) + 's time' if c.local_time else c.timezone}, {days}"
        + (f", {c.days_between} days apart" if c.days_between > 1 else "")
    )
    for col in ("Part", "State", "Sent", "Ready", "Ahead", "Failed", "Rejected", "Unknown"):
        table.add_column(col, justify="left" if col == "State" else "right")
    for day in schedule.dates:
        n = counts.get(day, {})
        table.add_row(
            str(schedule.day_number(day)),
            "started (stored render)" if day in started else "not started",
            str(n.get(SENT, 0)),
            str(n.get(READY, 0) + n.get(QUEUED, 0)),
            str(n.get(POSTPONED, 0)),
            str(n.get(FAILED, 0)),
            str(n.get(REJECTED, 0)),
            str(n.get(UNKNOWN, 0) + n.get(INFLIGHT, 0)),
        )
    subs = store.count_subscribers()
    lines: list = [table, "subscribers: " + (", ".join(f"{k} {v}" for k, v in sorted(subs.items())) or "none")]
    lines += position_lines(project, store, now)
    lines += waiting_lines(project, store, "part", store.get_state("pause"))
    upcoming = next_send_time(schedule, store, now)
    if upcoming is not None:
        lines.append(f"next: {upcoming.describe(c.tz)}, in {humanize(upcoming.at - now)}")
    return lines
