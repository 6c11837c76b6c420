"""The `campaign` command line: thin commands over library functions, errors mapped to exit codes.

Exit codes: 0 success; 2 invalid input (one line per problem on stderr, no traceback); 1 other failures.
Every command acts on the campaign folder it is run in (schedule.yaml, content/, templates/).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .config import Settings, load_settings
from .errors import CampaignError, InvalidInput
from .project import Project, load_project
from .store import Store, LockHeld

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Turn the article into a September series of daily emails and deliver it safely.\n\n"
                       "Run every command in the campaign folder (the one holding schedule.yaml).")
subscribers_app = typer.Typer(no_args_is_help=True, help="Manage the subscriber list.")
app.add_typer(subscribers_app, name="subscribers")

out = Console(highlight=False, soft_wrap=True, markup=False)  # user text may contain [brackets]
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

DAY_HELP = "An ISO date (2027-09-05) or a day number in the series (5)."


# -- shared plumbing ---------------------------------------------------------------------------------
def settings() -> Settings:
    return load_settings()


def project(s: Settings | None = None) -> Project:
    return load_project(s or settings())


def store(s: Settings | None = None) -> Store:
    return Store.open((s or settings()).database_url)


def print_findings(p: Project, days=None) -> None:
    """Warnings and acknowledged errors are printed with every build — never silently dropped."""
    for finding in p.check_safe_messaging(days):
        err.print(f"lint: {finding}", markup=False, highlight=False)


@contextmanager
def stop_on_signals():
    """SIGINT/SIGTERM set a flag: the batch in flight finishes and the ledger stays consistent."""
    stop = threading.Event()
    received: list[int] = []

    def handler(signum, _frame):
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop, received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_for_signal(received: list[int], resume_hint: str) -> None:
    if received:
        err.print(f"stopped: the batch in flight finished and the ledger is consistent. Resume with: {resume_hint}")
        raise typer.Exit(130 if received[0] == signal.SIGINT else 143)


# -- commands -------------------------------------------------------------------------------------------
@app.command()
def validate() -> None:
    """Check schedule.yaml, content/ and templates/; print every problem at once.

    Example: campaign validate
    """
    p = project()
    p.check_safe_messaging()
    p.render(p.schedule.dates[0])  # templates compile and carry the crisis block and disclaimer
    stale = p.crisis.stale(datetime.now().date())
    for entry in stale:
        err.print(f"warning: crisis resource not re-verified in 12 months: {entry}")
    for finding in p.lint():
        err.print(f"lint: {finding}", markup=False)
    out.print(f"ok: {len(p.schedule.dates)} days, {len(p.article.blocks)} article blocks, "
              f"provider {p.schedule.campaign.provider}")


@app.command()
def plan() -> None:
    """Show how the article is split across the scheduled days (word counts and spread).

    Example: campaign plan
    """
    p = project()
    table = Table(title=f"{p.schedule.campaign.name}: {len(p.plan.parts)} parts")
    for col in ("Day", "Date", "Words", "Starts with", "Note"):
        table.add_column(col, justify="right" if col in ("Day", "Words") else "left")
    for part in p.plan.parts:
        first = part.blocks[0].text.replace("\n", " ")
        start = f"(continued: {part.continued}) " if part.continued else ""
        pins = p.schedule.days[part.day].pin
        table.add_row(str(part.number), f"{part.day:%a %d %b}", str(part.words), (start + first)[:70],
                      ("pinned: " + ", ".join(pins)) if pins else "")
    out.print(table)
    counts = [part.words for part in p.plan.parts]
    out.print(f"words: total {sum(counts)}, mean {p.plan.mean:.1f}, min {min(counts)}, max {max(counts)}, "
              f"spread {p.plan.spread} (objective: minimise the sum of squared deviations from the mean)")


@app.command()
def build(out_dir: Path = typer.Option(Path("build"), "--out", help="Folder to write into.")) -> None:
    """Render every day to OUT/YYYY-MM-DD/email.html and email.txt, plus OUT/index.html.

    Example: campaign build --out build
    """
    from .build import build_series
    p = project()
    print_findings(p)
    built = build_series(p, out_dir)
    largest = max(b.html_bytes for b in built)
    out.print(f"built {len(built)} issues in {out_dir}/ (largest HTML {largest / 1024:.1f} KB); "
              f"open {out_dir / 'index.html'}")


@app.command()
def preview(day: str = typer.Argument(..., help=DAY_HELP),
            country: Optional[str] = typer.Option(None, help="Render the crisis block for this country (e.g. GB)."),
            out_dir: Path = typer.Option(Path("build/preview"), "--out", help="Folder to write into.")) -> None:
    """Render one day and print the path of its HTML.

    Example: campaign preview 10 --country GB
    """
    from .build import write_issue
    p = project()
    d = p.schedule.resolve_day(day)
    print_findings(p, [d])
    built = write_issue(p, d, out_dir / d.isoformat(), variant=p.variant_for(country))
    out.print(str(built.html_path))


@app.command()
def send(day: str = typer.Argument(..., help=DAY_HELP),
         dry_run: bool = typer.Option(False, "--dry-run", help="Report counts; write nothing."),
         to: Optional[str] = typer.Option(None, "--to", help="Send one [Test] copy to this address; the ledger is not touched."),
         country: Optional[str] = typer.Option(None, help="With --to: the crisis block's country."),
         retry_failed: bool = typer.Option(False, "--retry-failed", help="Also retry deliveries that failed."),
         resend_unknown: bool = typer.Option(False, "--resend-unknown",
                                             help="Also resend deliveries left in flight by an interrupted run.")) -> None:
    """Send DAY's issue to every active subscriber still owed it (a second run sends nothing).

    Example: campaign send 2027-09-05 --dry-run
    """
    from .providers import make_provider, provider_name
    from .sender import Sender
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
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


@app.command()
def status() -> None:
    """Per day: sent, owed, failed, unknown; the subscriber list; any pause.

    Example: campaign status
    """
    from .status import status_table
    s = settings()
    p = project(s)
    st = store(s)
    try:
        for line in status_table(p, st):
            out.print(line)
    finally:
        st.close()


# -- subscribers ----------------------------------------------------------------------------------------
@subscribers_app.command("import")
def subscribers_import(file: Path = typer.Argument(..., help="CSV with an email column; optional name, country, timezone."),
                       strict: bool = typer.Option(False, "--strict", help="Import nothing if any row is invalid.")) -> None:
    """Import subscribers from a CSV file (idempotent; never re-subscribes an unsubscribed address).

    Example: campaign subscribers import subscribers.csv
    """
    from .subscribers import import_subscribers
    st = store()
    try:
        report = import_subscribers(st, file, strict=strict)
    finally:
        st.close()
    for problem in report.rejected:
        err.print(f"rejected: {problem}")
    out.print(f"imported {file.name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
              f"{report.kept_suppressed} kept unsubscribed, {report.duplicates} duplicate(s) in the file, "
              f"{len(report.rejected)} rejected")


@subscribers_app.command("list")
def subscribers_list(status_: Optional[str] = typer.Option(None, "--status", help="Only this status (active, unsubscribed, ...).")) -> None:
    """List subscribers.

    Example: campaign subscribers list --status active
    """
    st = store()
    try:
        table = Table()
        for col in ("id", "email", "name", "country", "timezone", "status"):
            table.add_column(col)
        for sub in st.list_subscribers(status_):
            table.add_row(str(sub.id), sub.email, sub.name or "", sub.country or "", sub.timezone or "", sub.status)
        out.print(table)
        counts = st.count_subscribers()
        out.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no subscribers")
    finally:
        st.close()


@subscribers_app.command("unsubscribe")
def subscribers_unsubscribe(email: str = typer.Argument(..., help="The address to unsubscribe.")) -> None:
    """Unsubscribe an address: it is never sent to again.

    Example: campaign subscribers unsubscribe someone@example.org
    """
    from .errors import Problem
    st = store()
    try:
        sub = st.subscriber_by_email(email)
        if sub is None:
            raise InvalidInput(Problem("argument", None, "EMAIL", f"{email} is not a subscriber",
                                       "check the spelling with `campaign subscribers list`"))
        st.set_status(sub.id, "unsubscribed", "unsubscribed by an operator")
        out.print(f"{sub.email} unsubscribed")
    finally:
        st.close()


from . import cli_web  # noqa: E402,F401  (registers serve)
from . import cli_schedule  # noqa: E402,F401  (registers run/pause/resume)
from . import cli_check  # noqa: E402,F401  (registers check)


def main() -> None:
    try:
        app()
    except InvalidInput as error:
        for line in error.lines():
            err.print(f"error: {line}", markup=False)
        sys.exit(2)
    except LockHeld as error:
        err.print(f"error: {error}; wait for it to finish or stop it first", markup=False)
        sys.exit(1)
    except CampaignError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
