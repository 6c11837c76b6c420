"""`campaign worker` and `campaign send DAY --workers N`: several sender processes sharing one day's queue.

- `send DAY --workers N` enqueues the day (under its lock), starts N `campaign worker --day DAY --once`
  processes on this host, waits for them, then finishes in-process what they left (rows of a worker that
  died become unknown at once — its process is gone — and an idempotent provider's unknown batches are
  resent under their own key), and prints the combined report read back from the ledger.
- `campaign worker` is for other hosts: it sends whatever day has queued rows, polling; `--once` drains
  and exits. SIGTERM/SIGINT stop it cleanly: batches in flight finish and are recorded, claimed ones that
  had not started go back to the queue. Its rate limit is the database's, shared with every other worker.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import closing
from datetime import date
from typing import TYPE_CHECKING, Optional

import typer

from campaign.cli.app import app, err, out, project, settings, stop_on_signals, store
from campaign.ledger.states import FAILED, REJECTED, SENT

if TYPE_CHECKING:
    import threading

    from campaign.delivery.sender import Sender
    from campaign.delivery.values import SendReport
    from campaign.ledger.store import Store
    from campaign.series.project import Project


@app.command()
def worker(
    day: Optional[str] = typer.Option(None, "--day", help="Send only this day (default: any day with queued rows)."),
    once: bool = typer.Option(False, "--once", help="Drain what is queued now, then exit."),
    poll: float = typer.Option(5.0, "--poll", min=0.1, help="Seconds between looks at the queue."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Also retry deliveries that failed."),
    resend_unknown: bool = typer.Option(False, "--resend-unknown", help="Also resend unknown deliveries."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
    part_of_send: bool = typer.Option(
        False, "--part-of-send", hidden=True, help="Started by `send --workers`, which reports and alerts for it."
    ),
) -> None:
    """Send queued deliveries of any day being sent (`campaign send DAY` queues them), on any host sharing
    the database; the provider's rate is shared by all workers. Stops cleanly on SIGTERM.

    Example: campaign worker --once
    """
    from campaign.timing.rehearsal import refuse_rehearsal_ledger

    s = settings()
    with closing(store(s)) as st:
        p = project(s, st) if s.schedule_path.exists() else None  # no folder: the days already started
        refuse_rehearsal_ledger(st)
        from campaign.cli.alerting import raising_alerts

        with raising_alerts(s, st, p) as alerts, stop_on_signals() as (stop, received):
            retry = (retry_failed, resend_unknown)
            days = _work(p, st, day, once=once, poll=poll, stop=stop, quiet=quiet, retry=retry, alerts=alerts)
        if received and not quiet:
            err.print("worker stopped by signal: the batches in flight finished and were recorded", markup=False)
        if not part_of_send:  # (`send --workers` reports and alerts once, for the whole day)
            _name_waiting(st, days, unknown_only=not once)


def _work(
    p: Project | None, st: Store, day: str | None, *, once: bool, poll: float, stop, quiet: bool, retry: tuple, alerts
) -> list[date]:
    """Send every queued day until stopped (`once`: until nothing is queued). Without a folder the provider is
    the one recorded with the started day (CAMPAIGN_PROVIDER still overrides), credentials from here. Returns
    the days it looked at. `alerts`: an incomplete day raises one (None: `send --workers` raises it)."""
    from campaign.cli.alerting import alert_incomplete
    from campaign.cli.send import started_day
    from campaign.delivery.editions import Editions
    from campaign.delivery.sender import Sender
    from campaign.preflight import require_go_live
    from campaign.providers import make_provider, provider_name

    s = settings()
    sender: Sender | None = None
    days: list[date] = []
    try:
        while not stop.is_set():
            if p is not None:
                days = [p.schedule.resolve_day(day)] if day else list(p.schedule.dates)
            else:
                days = [started_day(st, day)] if day else sorted(st.edition_days().values())
            queued = st.days_queued(days)
            for d in queued:
                if sender is None:
                    if p is not None:
                        require_go_live(s, p)
                    recorded = Editions(st, None).require(d).send
                    chosen = p.schedule.campaign if p is not None else recorded
                    provider = make_provider(provider_name(s, chosen.provider), s, chosen)
                    rate, concurrency = (None, None) if p is not None else (recorded.rate_limit, recorded.concurrency)
                    sender = Sender(
                        p, st, provider, settings=s, stop=stop, shared_rate=True, rate=rate, concurrency=concurrency
                    )
                report = sender.send_day(d, enqueue=False, retry_failed=retry[0], resend_unknown=retry[1])
                if not quiet:
                    out.print(f"worker {sender.lease.worker_id}: {report.summary()}")
                if alerts is not None:
                    alert_incomplete(alerts, report)
                if report.stopped and not stop.is_set() and "fenced" not in report.stopped:
                    err.print(f"worker stopped: {report.stopped}", markup=False)
                    raise typer.Exit(1)
            if once and not queued:
                break
            if not queued:
                stop.wait(poll)
    finally:
        if sender is not None:
            sender.provider.close()
    return days


def _name_waiting(st: Store, days: list[date], *, unknown_only: bool) -> None:
    """On the way out: name every delivery still waiting and the command that settles it; exit 1 while any
    unknown remain (and, after `--once`, any failed)."""

    waiting = [w for w in st.waiting_by_day(days).values() if w.unknown or not unknown_only]
    for w in waiting:
        err.print(f"not complete: {w.describe()}", markup=False)
    if waiting:
        raise typer.Exit(1)


def send_with_workers(
    sender: Sender, st: Store, d: date, workers: int, *, stop: threading.Event, retry_failed: bool, resend_unknown: bool
) -> SendReport:
    """Enqueue `d`, run `workers` worker processes on it, finish what they left, report from the ledger."""
    from campaign.delivery.values import SendReport

    number = sender.day_number(d)
    owed = sender.start_day(d)
    command = [
        sys.executable,
        "-m",
        "campaign",
        "worker",
        "--day",
        d.isoformat(),
        "--once",
        "--quiet",
        "--part-of-send",
    ]
    command += ["--retry-failed"] * retry_failed + ["--resend-unknown"] * resend_unknown
    root = sender.settings.root
    children = [subprocess.Popen(command, cwd=root) for _ in range(workers)]
    try:
        while any(child.poll() is None for child in children):
            if stop.is_set():
                for child in children:
                    if child.poll() is None:
                        child.send_signal(signal.SIGTERM)
                break
            time.sleep(0.2)
        for child in children:
            child.wait()
    finally:
        for child in children:  # the parent itself is stopping abnormally: do not leave workers behind
            if child.poll() is None:
                child.terminate()
                child.wait()
    for child in children:
        if child.returncode not in (0, -signal.SIGTERM):
            err.print(f"warning: worker process {child.pid} ended with {child.returncode}", markup=False)
    final = None
    if not stop.is_set():  # what the workers left: a dead one's rows, an idempotent provider's unknown batches
        final = sender.send_day(d, enqueue=False, retry_failed=retry_failed, resend_unknown=resend_unknown)
    counts = st.delivery_counts().get(d, {})
    waiting = st.waiting_on(d)
    return SendReport(
        d,
        number,
        owed=owed,
        sent=counts.get(SENT, 0),
        failed=counts.get(FAILED, 0),
        rejected=counts.get(REJECTED, 0),
        unknown=waiting.unknown,
        failed_waiting=waiting.failed,
        workers=workers,
        stopped=final.stopped if final else None,
    )
