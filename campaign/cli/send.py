"""`campaign send` and `campaign status`: one day's send and the ledger's view of the series."""

from __future__ import annotations

import sys
from datetime import date
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
from campaign.errors import CampaignError, InvalidInput, Problem

if TYPE_CHECKING:
    from rich.progress import Progress

    from campaign.delivery.sender import Sender
    from campaign.series.project import Project


@app.command()
def send(
    day: str = typer.Argument(..., help=DAY_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report counts; write nothing."),
    to: list[str] = typer.Option(
        [], "--to", help="Send a [Test] copy to this address (repeat for several); the ledger is not touched."
    ),
    seeds: bool = typer.Option(
        False, "--seeds", help="Send a [Test] copy to each address of schedule.yaml's seed_list."
    ),
    country: Optional[str] = typer.Option(None, help="With --to: the crisis block's country."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Also retry deliveries that failed."),
    resend_unknown: bool = typer.Option(
        False, "--resend-unknown", help="Also resend deliveries left in flight by an interrupted run."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Send without asking, even before the day's send time or out of order."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Sender processes on this host, sharing the day's queue."
    ),
) -> None:
    """Send DAY's issue to every active subscriber still owed it (a second run sends nothing).

    A day whose send time is still ahead, or whose earlier days are not sent yet, is sent only after you
    confirm (without a terminal: only with --yes). Test copies (--to, --seeds) never touch the ledger.
    --workers N enqueues the day, then N processes send it (`campaign worker` does the same on other hosts).

    Example: campaign send 2027-09-05 --dry-run
    """
    from campaign.delivery.sender import Sender
    from campaign.ledger.pending import waiting_on
    from campaign.providers import make_provider, provider_name

    s = settings()
    p = project(s)
    d = p.schedule.resolve_day(day)
    print_findings(p, [d])
    testers = _test_addresses(to, p.schedule.campaign.seed_list if seeds else [], seeds)
    if not dry_run:  # a real provider refuses to start on any placeholder (`campaign check` lists them all)
        from campaign.preflight import require_go_live

        require_go_live(s, p)
    st = store(s)
    provider = make_provider(provider_name(s, p.schedule.campaign.provider), s, p.schedule.campaign)
    try:
        number = p.schedule.day_number(d)
        if not testers and not dry_run:
            from campaign.ledger.store import SENT
            from campaign.timing.rehearsal import refuse_rehearsal_ledger

            refuse_rehearsal_ledger(st)
            sender = Sender(p, st, provider)
            sender.check_not_paused()
            if not (retry_failed or resend_unknown) and sender.count_owed(d) == 0:
                already = st.delivery_counts().get(d, {}).get(SENT, 0)
                waiting = waiting_on(st.engine, d)
                if not waiting.total:
                    out.print(f"day {number} ({d}): 0 owed — {already} already sent; nothing to do")
                    return
                out.print(f"day {number} ({d}): 0 owed — {already} already sent", markup=False)
                err.print(f"not complete: {waiting.describe()}", markup=False)
                raise typer.Exit(1)
            _confirm(_reasons_to_ask(p, sender, d), number, yes)
        if testers:
            sender = Sender(p, st, provider)
            failed = []
            for address in testers:
                result = sender.send_test(d, address, country=country)
                if result.ok:
                    out.print(f"test copy of day {number} sent to {address} via {provider.name}")
                else:
                    failed.append(f"{address}: {result.error}")
            if failed:
                raise CampaignError("test send failed — " + "; ".join(failed))
            return
        from campaign.cli.alerting import alert_incomplete, raising_alerts

        with raising_alerts(s, st, p, d) as alerts, stop_on_signals() as (stop, received), _progress() as progress:
            sender = Sender(p, st, provider, stop=stop)
            task = progress.add_task(f"day {number}", total=None)
            sender.progress = lambda n: progress.advance(task, n)
            if not dry_run:
                progress.update(task, total=sender.count_owed(d))
            if workers > 1 and not dry_run:
                from campaign.cli.workers import send_with_workers

                report = send_with_workers(
                    sender, st, d, workers, stop=stop, retry_failed=retry_failed, resend_unknown=resend_unknown
                )
            else:
                report = sender.send_day(d, dry_run=dry_run, retry_failed=retry_failed, resend_unknown=resend_unknown)
            if not dry_run:
                alert_incomplete(alerts, report, p, st)
        out.print(report.summary())
        if not dry_run and (ready := st.count_behind(sender.series_days, at=sender.clock(), ready_only=True)):
            out.print(
                f"{ready} reader(s) back from their own pause get a postponed part instead of this day: "
                "`campaign run` sends it at the next send time (one part a day)"
            )
        exit_for_signal(received, f"campaign send {d}")
        if report.failed or report.waiting:
            err.print(f"not complete: {waiting_on(st.engine, d).describe()}", markup=False)
            raise typer.Exit(1)
        if report.stopped:
            err.print(f"the send stopped early: {report.stopped}", markup=False)
            raise typer.Exit(1)
    finally:
        provider.close()
        st.close()


def _test_addresses(to: list[str], seed_list: list[str], seeds: bool) -> list[str]:
    """Every --to address (and the seed list with --seeds), each checked; exit 2 on the first bad one."""
    from email.utils import parseaddr

    from campaign.ledger.addresses import normalise_email

    if seeds and not seed_list:
        raise InvalidInput(
            Problem(
                "schedule.yaml",
                None,
                "campaign.seed_list",
                "--seeds, but the seed list is empty",
                "add seed_list: [you@example.org] under campaign:, or give --to ADDRESS",
            )
        )
    found: list[str] = []
    for raw in [*to, *seed_list]:
        try:
            address = normalise_email(parseaddr(raw)[1] or raw, utf8_local=True)
        except ValueError as why:
            raise InvalidInput(
                Problem(
                    "argument", None, "--to", f"{raw!r} is not an address ({why})", "write e.g. --to you@example.org"
                )
            ) from None
        if address not in found:
            found.append(address)
    return found


def _reasons_to_ask(p: Project, sender: Sender, d: date) -> list[str]:
    """Why sending `d` now deserves a question: its send time is ahead, or earlier days are still owed."""
    from campaign.clock import utcnow

    schedule, reasons = p.schedule, []
    at = schedule.send_at(d)
    if at > utcnow():
        reasons.append(f"day {schedule.day_number(d)} is scheduled for {at:%Y-%m-%d %H:%M %Z}, which is still ahead")
    earlier = [e for e in schedule.dates if e < d and sender.count_owed(e) > 0]
    if earlier:
        days = ", ".join(str(schedule.day_number(e)) for e in earlier[:10]) + (" …" if len(earlier) > 10 else "")
        reasons.append(f"earlier days are not sent yet (day {days}): readers would get it out of order")
    return reasons


def _confirm(reasons: list[str], number: int, yes: bool) -> None:
    if not reasons or yes:
        return
    for reason in reasons:
        err.print(f"warning: {reason}", markup=False)
    if not sys.stdin.isatty():
        err.print(f"not sent: confirm with --yes to send day {number} now (no terminal to ask on)", markup=False)
        raise typer.Exit(2)
    if not typer.confirm(f"Send day {number} now anyway?", default=False, err=True):
        err.print("not sent", markup=False)
        raise typer.Exit(1)


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
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the same figures as JSON, for scripts."),
) -> None:
    """Per day: sent, owed, failed, unknown; the subscriber list; any pause; deliveries waiting.

    Example: campaign status --json
    """
    from campaign.cli.status_table import status_table

    s = settings()
    p = project(s)
    st = store(s)
    try:
        if as_json:
            import json

            from campaign.clock import utcnow
            from campaign.timing.figures import series_figures

            typer.echo(json.dumps(series_figures(p, st, now=utcnow()), indent=2, default=str))
            return
        for line in status_table(p, st):
            out.print(line)
    finally:
        st.close()
