"""The daily report: one short plain email to the operators (alerts.operators) after each day's send.

    sent, failed, unknown, bounces, complaints and unsubscribes — for the day and for the series;
    the next day's subject and send time, and any safe-messaging lint warnings of it;
    a link to the archive.

Sent once per day (its dedupe key) through the alert email channel, never the webhook; `alerts.daily_report:
false` turns it off. Counts only: no subscriber address.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from campaign.alerts.center import Alerts
from campaign.alerts.kinds import AlertKind
from campaign.ledger.alerts import event_counts
from campaign.ledger.states import FAILED, SENT, UNKNOWN
from campaign.ledger.views import SchedulerLedger
from campaign.series.project import Project

KINDS = (("bounces", "bounce"), ("complaints", "complaint"), ("unsubscribes", "unsubscribe"))


def report_text(project: Project, store: SchedulerLedger, day: date, *, now: datetime) -> tuple[str, dict]:
    schedule = project.schedule
    counts = store.delivery_counts()
    today = counts.get(day, {})
    series: Counter = Counter()
    for per_day in counts.values():
        series.update(per_day)
    since = {row.day: row.first_sent_at for row in store.archived_issues()}.get(day)
    day_events = store_events_since(store, since) if since else {}
    all_events = event_counts(store.engine)
    figures: dict[str, dict[str, int]] = {
        "day": {SENT: today.get(SENT, 0), FAILED: today.get(FAILED, 0), UNKNOWN: today.get(UNKNOWN, 0)},
        "series": {SENT: series[SENT], FAILED: series[FAILED], UNKNOWN: series[UNKNOWN]},
    }
    for label, kind in KINDS:
        figures["day"][label] = day_events.get(kind, 0)
        figures["series"][label] = all_events.get(kind, 0)
    number = schedule.day_number(day)
    lines = [f"Day {number} ({day}) of {schedule.campaign.name}", ""]
    for scope in ("day", "series"):
        f = figures[scope]
        lines.append(
            f"{'This day' if scope == 'day' else 'The series'}: sent {f[SENT]}, failed {f[FAILED]}, "
            f"unknown {f[UNKNOWN]}, bounces {f['bounces']}, complaints {f['complaints']}, "
            f"unsubscribes {f['unsubscribes']}"
        )
    later = [d for d in schedule.dates if d > day]
    if later:
        nxt = later[0]
        when = schedule.send_at(nxt)
        lines += ["", f"Next: day {number + 1}, {when:%a %d %b %H:%M %Z}: {schedule.days[nxt].subject}"]
        try:
            warnings = [str(w) for w in project.check_safe_messaging([nxt])]
        except Exception as err:  # noqa: BLE001 (the report still goes; the lint problem is named)
            warnings = [f"the lint could not run: {err}"]
        lines += [f"  lint: {w}" for w in warnings[:10]]
    else:
        lines += ["", "That was the last day of the series."]
    lines += ["", f"Archive: {project.settings.public_url}/archive/"]
    return "\n".join(lines), figures


def evergreen_report_text(project: Project, store: SchedulerLedger, *, now: datetime) -> tuple[str, dict]:
    """start: on_join — the series so far: sent, failed, unknown and the readers' events, and where readers are."""
    from campaign.timing.positions import overview

    series: Counter = Counter()
    for per_part in store.delivery_counts().values():
        series.update(per_part)
    events = event_counts(store.engine)
    f: dict[str, int] = {SENT: series[SENT], FAILED: series[FAILED], UNKNOWN: series[UNKNOWN]}
    f.update({label: events.get(kind, 0) for label, kind in KINDS})
    view = overview(project.schedule, store, now)
    had = " · ".join(f"{n}: {readers}" for n, readers in sorted(view.by_parts.items())) or "none"
    lines = [
        f"{project.schedule.campaign.name} on {now.astimezone(project.schedule.campaign.tz):%a %d %b %Y} "
        f"({view.total} parts, each reader from their own part 1)",
        "",
        f"The series: sent {f[SENT]}, failed {f[FAILED]}, unknown {f[UNKNOWN]}, bounces {f['bounces']}, "
        f"complaints {f['complaints']}, unsubscribes {f['unsubscribes']}",
        f"Readers by parts had: {had}; {view.behind} reader(s) with parts to come ({view.waiting} not started).",
        "",
        f"Archive: {project.settings.public_url}/archive/",
    ]
    return "\n".join(lines), {"series": f}


def store_events_since(store: SchedulerLedger, since: datetime) -> dict[str, int]:
    from campaign.ledger.alerts import event_counts_since

    return event_counts_since(store.engine, since)


def send_daily_report(project: Project, store: SchedulerLedger, day: date, *, now: datetime) -> bool:
    """Send the day's report to the operators once; False when off, without operators, or already sent."""
    wanted = project.schedule.alerts
    if not wanted.daily_report or not wanted.operators or day not in project.schedule.days:
        return False
    evergreen = project.schedule.campaign.on_join  # one report per date, of the whole series (no day of its own)
    text, figures = (
        evergreen_report_text(project, store, now=now) if evergreen else report_text(project, store, day, now=now)
    )
    alerts = Alerts(project.settings, store.engine, project.schedule)
    sent = alerts.raise_alert(
        AlertKind.DAILY_REPORT,
        text,
        day=None if evergreen else day,
        counts=figures,
        cause="report",
        only=("operators",),
    )
    return sent is not None
