"""`campaign send` and `campaign status`: one day's send and the ledger's view of the series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from campaign.cli.app import (
    DAY_HELP,
    app,
    err,
    exit_for_signal,
    out,
    print_findings,
    project,
    settings,
    stop_on_signals,
    store,
)
from campaign.errors import CampaignError

if TYPE_CHECKING:
    from rich.progress import Progress


@app.command()
def send(
    day: str = typer.Argument(..., help=DAY_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report counts; write nothing."),
    to: Optional[str] = typer.Option(
        None, "--to", help="Send one [Test] copy to this address; the ledger is not touched."
    ),
    country: Optional[str] = typer.Option(None, help="With --to: the crisis block's country."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Also retry deliveries that failed."),
    resend_unknown: bool = typer.Option(
        False, "--resend-unknown", help="Also resend deliveries left in flight by an interrupted run."
    ),
) -> None:
    """Send DAY's issue to every active subscriber still owed it (a second run sends nothing).

    Example: campaign send 2027-09-05 --dry-run
    """
    from campaign.delivery.sender import Sender
    from campaign.providers import make_provider, provider_name

    s = settings()
    p = project(s)
    d = p.schedule.resolve_day(day)
    print_findings(p, [d])
    st = store(s)
    provider = make_provider(provider_name(s, p.schedule.campaign.provider), s, p.schedule.campaign)
    try:
        if to:
            sender = Sender(p, st, provider)
            result = sender.send_test(d, to, country=country)
            if not result.ok:
                raise CampaignError(f"test send to {to} failed: {result.error}")
            out.print(f"test copy of day {p.schedule.day_number(d)} sent to {to} via {provider.name}")
            return
        with stop_on_signals() as (stop, received), _progress() as progress:
            sender = Sender(p, st, provider, stop=stop)
            task = progress.add_task(f"day {p.schedule.day_number(d)}", total=None)
            sender.progress = lambda n: progress.advance(task, n)
            if not dry_run:
                progress.update(task, total=sender.count_owed(d))
            report = sender.send_day(d, dry_run=dry_run, retry_failed=retry_failed, resend_unknown=resend_unknown)
        out.print(report.summary())
        exit_for_signal(received, f"campaign send {d}")
        if report.failed:
            err.print(f"{report.failed} delivery(ies) failed; retry with: campaign send {d} --retry-failed")
            raise typer.Exit(1)
        if report.stopped:
            err.print(f"the send stopped early: {report.stopped}", markup=False)
            raise typer.Exit(1)
    finally:
        provider.close()
        st.close()


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@app.command()
def status() -> None:
    """Per day: sent, owed, failed, unknown; the subscriber list; any pause.

    Example: campaign status
    """
    from campaign.cli.status_table import status_table

    s = settings()
    p = project(s)
    st = store(s)
    try:
        for line in status_table(p, st):
            out.print(line)
    finally:
        st.close()
