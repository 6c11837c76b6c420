"""`campaign alerts test | list`, and the alerts the sending commands raise (campaign/alerts does the work).

Registered on `campaign.cli.app.app` when `campaign.cli` is imported.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from campaign.cli.app import app, err, out, settings, store
from campaign.ledger.states import FAILED, SENT, UNKNOWN, AlertSendStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    from campaign.alerts.center import Alerts
    from campaign.config import Settings
    from campaign.delivery.values import SendReport
    from campaign.ledger.store import Store
    from campaign.series.project import Project

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts to the operators: test the channels, list recent ones.")
app.add_typer(alerts_app, name="alerts")

WAIT_ON_EXIT = 30.0  # seconds a command waits, after its own work, for its alerts to go out


def alerts_for(s: Settings, st: Store | None, p: Project | None) -> Alerts:
    from campaign.alerts.center import Alerts

    return Alerts(s, st.engine if st is not None else None, p.schedule if p is not None else None)


@contextmanager
def raising_alerts(s: Settings, st: Store, p: Project | None, day=None) -> Iterator[Alerts]:
    """Around a send: bad credentials pause the series and alert. The alerts go on their own threads;
    `campaign.cli.main` gives them a bounded time once the command's own work is done."""
    from campaign.clock import utcnow
    from campaign.errors import AuthenticationFailed
    from campaign.timing.holds import credentials_refused

    alerts = alerts_for(s, st, p)
    try:
        yield alerts
    except AuthenticationFailed as error:
        credentials_refused(st, alerts, error, day=day, now=utcnow())
        err.print("sending is paused until the credentials are fixed and `campaign resume --yes` is run", markup=False)
        raise


def alert_incomplete(alerts: Alerts, report: SendReport, p: Project | None = None, st: Store | None = None) -> None:
    """After a day's send: the operators' daily report (once a day); a send that ended with failed or unknown
    deliveries (or stopped early) alerts once a day."""
    from campaign.alerts.kinds import AlertKind

    if p is not None and st is not None and not report.stopped:
        from campaign.clock import utcnow
        from campaign.timing.report import send_daily_report

        send_daily_report(p, st, report.day, now=utcnow())
    if not (report.failed or report.waiting or report.stopped):
        return
    counts: dict[str, int] = {SENT: report.sent, FAILED: report.failed_waiting, UNKNOWN: report.unknown}
    text = f"Day {report.number} ({report.day}) is not complete: {report.summary()}"
    alerts.raise_alert(AlertKind.SEND_INCOMPLETE, text, day=report.day, counts=counts, cause="incomplete")


def confirm_self_pause(st: Store, yes: bool) -> None:
    """`campaign resume` of a pause the series put on itself: show why and the figures; go on only with --yes."""
    from campaign.timing.pause import PAUSE_KEY

    pause = st.get_state(PAUSE_KEY) or {}
    cause = pause.get("cause")
    if not cause:
        return
    out.print(f"paused by the {cause} check since {pause.get('since')}: {pause.get('reason')}", markup=False)
    figures = pause.get("figures") or {}
    if figures:
        out.print("figures: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.items())), markup=False)
    if not yes:
        err.print("not resumed: look at the figures above, then confirm with `campaign resume --yes`", markup=False)
        raise typer.Exit(2)


@alerts_app.command("test")
def alerts_test() -> None:
    """Send one test alert to every channel (the webhook, the operators, the organisers) and say how each went.

    Example: campaign alerts test
    """
    from campaign.alerts.kinds import AlertKind
    from campaign.cli.app import project
    from campaign.ledger.alerts import recent_alerts

    s = settings()
    st = store(s)
    try:
        p = project(s, st)
        alerts = alerts_for(s, st, p)
        channels = [c.name for c in alerts.channels(AlertKind.TEST)]
        if not channels:
            err.print(
                "no alert channel is configured: set CAMPAIGN_ALERT_WEBHOOK_URL, or alerts.operators in schedule.yaml",
                markup=False,
            )
            raise typer.Exit(2)
        alert = alerts.raise_alert(AlertKind.TEST, "Test alert: this channel works.", dedupe=False)
        alerts.wait(WAIT_ON_EXIT)
        row = next((r for r in recent_alerts(st.engine, limit=20) if alert and r.id == alert.id), None)
        failed = 0
        for channel in channels:
            status, attempts, error = (
                row.sends.get(channel, (AlertSendStatus.PENDING, 0, None)) if row else ("not recorded", 0, None)
            )
            out.print(
                f"{channel}: {status}" + (f" after {attempts} attempt(s): {error}" if error else ""), markup=False
            )
            failed += status != AlertSendStatus.SENT
        if failed:
            raise typer.Exit(1)
    finally:
        st.close()


@alerts_app.command("list")
def alerts_list(limit: int = typer.Option(20, min=1, max=1000, help="How many of the newest alerts.")) -> None:
    """The newest alerts, each with how every channel went (sent, failed with the reason, pending).

    Example: campaign alerts list --limit 50
    """
    from campaign.ledger.alerts import recent_alerts

    s = settings()
    st = store(s)
    try:
        rows = recent_alerts(st.engine, limit=limit)
        if not rows:
            out.print("no alerts yet")
        for row in rows:
            sends = ", ".join(
                f"{channel} {status}"
                + (f" ({attempts} attempts: {error})" if status != AlertSendStatus.SENT and error else "")
                for channel, (status, attempts, error) in sorted(row.sends.items())
            )
            out.print(
                f"{row.raised_at:%Y-%m-%d %H:%M} UTC  {row.kind}  {row.text}  — {sends or 'no channel configured'}",
                markup=False,
            )
    finally:
        st.close()
