"""`campaign send` and `campaign status`: one day's send and the ledger's view of the series."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
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
from campaign.config import Settings
from campaign.errors import CampaignError, InvalidInput, Problem
from campaign.series.parts import is_part_key, label, part_number

if TYPE_CHECKING:
    from rich.progress import Progress

    from campaign.delivery.sender import Sender
    from campaign.ledger.store import Store
    from campaign.providers.base import Provider
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
    s = settings()
    with _sending(s, day, dry_run=dry_run) as (p, st, d, provider):
        testers = _test_addresses(to, p.schedule.campaign.seed_list if (seeds and p) else [], seeds)
        if testers:
            _send_test_copies(p, st, provider, d, testers, country)
            return
        if is_part_key(d):  # start: on_join — a part goes to each reader at their own send time
            _settle_part(p, st, provider, d, dry_run=dry_run, retry_failed=retry_failed, resend_unknown=resend_unknown)
            return
        _send_day(
            p,
            st,
            provider,
            d,
            dry_run=dry_run,
            retry_failed=retry_failed,
            resend_unknown=resend_unknown,
            yes=yes,
            workers=workers,
        )


@contextmanager
def _sending(s: Settings, day: str, *, dry_run: bool) -> Iterator[tuple[Project | None, Store, date, Provider]]:
    """The folder as sent, the store, the day and the provider. Without a campaign folder (no schedule.yaml
    here: a worker host), only a day already started can be sent: from its stored edition, with the provider
    settings recorded with it and the credentials of this environment."""
    from campaign.delivery.editions import Editions
    from campaign.providers import make_provider, provider_name

    if not s.schedule_path.exists():
        st = store(s)
        try:
            d = started_day(st, day)
            recorded = Editions(st, None).require(d).send
            provider = make_provider(provider_name(s, recorded.provider), s, recorded)
        except BaseException:
            st.close()
            raise
        with closing(st), closing(provider):
            yield None, st, d, provider
        return
    st = store(s)
    try:
        p = project(s, st)
        d = p.schedule.resolve_day(day)
        print_findings(p, [d])
        if not dry_run:  # a real provider refuses to start on any placeholder (`campaign check` lists them all)
            from campaign.preflight import require_go_live

            require_go_live(s, p)
        provider = make_provider(provider_name(s, p.schedule.campaign.provider), s, p.schedule.campaign)
    except BaseException:
        st.close()
        raise
    with closing(st), closing(provider):
        yield p, st, d, provider


def started_day(st: Store, day: str) -> date:
    """A DAY argument resolved against the days the ledger holds an edition of (no campaign folder)."""
    from campaign.series.schedule import day_number_of

    started = st.edition_days()
    number = day_number_of(day.strip())
    if number is not None and number in started:
        return started[number]
    try:
        d = date.fromisoformat(day)
    except ValueError:
        d = None
    if d is not None and d in started.values():
        return d
    raise InvalidInput(
        Problem(
            "argument",
            None,
            "DAY",
            f"{day[:40]!r} is not a day whose send has started (started: "
            f"{', '.join(f'{n} ({d})' for n, d in sorted(started.items())) or 'none'}), and there is no "
            "schedule.yaml here",
            "run it in the campaign folder, or name a started day",
        )
    )


def _send_test_copies(p: Project | None, st: Store, provider: Provider, d: date, testers: list[str], country) -> None:
    from campaign.delivery.sender import Sender

    sender = Sender(p, st, provider, settings=settings())
    failed = []
    for address in testers:
        result = sender.send_test(d, address, country=country)
        if result.ok:
            out.print(
                f"test copy of {label(d) if is_part_key(d) else f'day {sender.day_number(d)}'} sent to {address} via {provider.name}"
            )
        else:
            failed.append(f"{address}: {result.error}")
    if failed:
        raise CampaignError("test send failed — " + "; ".join(failed))


def _settle_part(
    p: Project | None,
    st: Store,
    provider: Provider,
    d: date,
    *,
    dry_run: bool,
    retry_failed: bool,
    resend_unknown: bool,
) -> None:
    """start: on_join — `send N` never sends part N to everyone owed it (a reader who has not had part 1 would
    get it first): it only settles the part's failed or unknown deliveries, and enqueues nobody."""
    from campaign.delivery.sender import Sender
    from campaign.errors import ConfigurationError

    if dry_run or not (retry_failed or resend_unknown):
        raise ConfigurationError(
            Problem(
                "argument",
                None,
                "DAY",
                f"{label(d)} of an evergreen series (start: on_join) goes to each reader at their own send time, "
                "never to everyone at once",
                "`campaign run` sends the parts (`campaign run --once`: the send times due now); test a part with "
                f"`campaign send {part_number(d)} --to you@example.org`; settle its failed or unknown deliveries "
                "with --retry-failed or --resend-unknown",
            )
        )
    sender = Sender(p, st, provider, settings=settings())
    with stop_on_signals() as (stop, _):
        sender.stop = stop
        report = sender.send_day(d, retry_failed=retry_failed, resend_unknown=resend_unknown, enqueue=False)
    out.print(report.summary())
    if report.waiting or report.stopped:
        raise typer.Exit(1)


def _send_day(
    p: Project | None,
    st: Store,
    provider: Provider,
    d: date,
    *,
    dry_run: bool,
    retry_failed: bool,
    resend_unknown: bool,
    yes: bool,
    workers: int,
) -> None:
    from campaign.cli.alerting import alert_incomplete, raising_alerts
    from campaign.delivery.editions import Editions
    from campaign.delivery.sender import Sender

    s = settings()
    recorded = Editions(st, None).get(d) if p is None else None  # no folder: the settings the day started with
    sender = Sender(
        p,
        st,
        provider,
        settings=s,
        rate=recorded.send.rate_limit if recorded else None,
        concurrency=recorded.send.concurrency if recorded else None,
    )
    number = sender.day_number(d)
    if not dry_run and not _owed_or_waiting(p, st, sender, d, number, yes=yes, retrying=retry_failed or resend_unknown):
        return
    with raising_alerts(s, st, p, d) as alerts, stop_on_signals() as (stop, received), _progress() as progress:
        sender.stop = stop
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
        err.print(f"not complete: {st.waiting_on(d).describe()}", markup=False)
        raise typer.Exit(1)
    if report.stopped:
        err.print(f"the send stopped early: {report.stopped}", markup=False)
        raise typer.Exit(1)


def _owed_or_waiting(
    p: Project | None, st: Store, sender: Sender, d: date, number: int, *, yes: bool, retrying: bool
) -> bool:
    """Whether to go on with a real send: someone is owed the day (asked to confirm when it is early or out of
    order). With nobody owed, a day whose failed or unknown deliveries still wait is not complete: say which
    and how to settle them, and exit 1 — never "nothing to do" while anyone waits."""
    from campaign.ledger.states import SENT
    from campaign.timing.rehearsal import refuse_rehearsal_ledger

    refuse_rehearsal_ledger(st)
    sender.check_not_paused()
    if not retrying and sender.count_owed(d) == 0:
        already = st.delivery_counts().get(d, {}).get(SENT, 0)
        waiting = st.waiting_on(d)
        if not waiting.total:
            out.print(f"day {number} ({d}): 0 owed — {already} already sent; nothing to do")
            return False
        out.print(f"day {number} ({d}): 0 owed — {already} already sent", markup=False)
        err.print(f"not complete: {waiting.describe()}", markup=False)
        raise typer.Exit(1)
    if p is not None:
        _confirm(_reasons_to_ask(p, sender, d), number, yes)
    return True


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
    subscriber: Optional[str] = typer.Option(
        None, "--subscriber", help="One reader's parts: sent, next, and when (their address)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the same figures as JSON, for scripts."),
) -> None:
    """Per day: sent, owed, failed, unknown; readers per part and who is behind; the subscriber list; any pause;
    deliveries waiting.

    Example: campaign status --subscriber ann@example.org   (or: campaign status --json)
    """
    from campaign.cli.status_table import reader_table, status_table

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
        lines = status_table(p, st) if subscriber is None else reader_table(p, st, subscriber)
        if subscriber is not None and not lines:
            raise InvalidInput(
                Problem("argument", None, "--subscriber", f"no subscriber {subscriber!r}", "check the address")
            )
        for line in lines:
            out.print(line)
    finally:
        st.close()
