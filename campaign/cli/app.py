"""The Typer app and the plumbing every command group shares (consoles, settings, store, signals).

This module imports no command module: each `campaign/cli/<group>.py` registers its commands on `app`, and
`campaign/cli/__init__.py` imports them all.

Exit codes: 0 success; 2 invalid input (one line per problem on stderr, no traceback); 1 other failures.
Every command acts on the campaign folder it is run in (schedule.yaml, content/, templates/).
"""

from __future__ import annotations

import inspect
import signal
import threading
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from campaign.config import Settings, load_settings

if TYPE_CHECKING:
    from campaign.ledger.store import Store
    from campaign.series.project import Project

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's own help: paragraphs wrapped to the terminal, flags without a type label
    context_settings={"max_content_width": 1000},  # wrap to the terminal, not to 80 columns
    help="Turn the article into a September series of daily emails and deliver it safely.\n\n"
    "Run every command in the campaign folder (the one holding schedule.yaml).",
)
subscribers_app = typer.Typer(no_args_is_help=True, help="Manage the subscriber list.")
app.add_typer(subscribers_app, name="subscribers")

out = Console(highlight=False, soft_wrap=True, markup=False)  # user text may contain [brackets]
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

DAY_HELP = "An ISO date (2027-09-05) or a day number in the series (5)."


# -- help that reads well ----------------------------------------------------------------------------
def unwrap(text: str) -> str:
    """A docstring's paragraphs each on one line: the terminal wraps them to its own width (a docstring
    hard-wrapped at 110 columns, re-wrapped by Rich, breaks mid-sentence)."""
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in inspect.cleandoc(text).split("\n\n")]
    return "\n\n".join(paragraphs)


def polish(command) -> None:
    """Unwrap every command's help and label its parameters: a flag shows no value, an option or argument
    the name of what it takes (DAY, EMAIL, N) instead of a Python type."""
    stack = [command]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        if cmd.help:
            cmd.help = unwrap(cmd.help)
        for param in cmd.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
            elif param.metavar is None:
                param.metavar = METAVARS.get(param.name or "", (param.name or "value").upper())


METAVARS = {"to": "EMAIL", "workers": "N", "country": "CODE", "out": "DIR", "since": "WHEN"}


def command():
    """The click command tree of `app`, polished (what `main` runs and the help tests read)."""
    import typer.main

    group = typer.main.get_command(app)
    polish(group)
    return group


# -- shared plumbing ---------------------------------------------------------------------------------
def settings() -> Settings:
    return load_settings()


def project(s: Settings | None = None, st: Store | None = None) -> Project:
    """The campaign folder, with the days already started kept as the ledger recorded them.

    Without `st`, the ledger is read when it exists (a missing SQLite file means nothing was sent yet: it is
    not created just to look)."""
    s = s or settings()
    if st is None and s.no_ledger_yet:  # nothing sent yet: the files alone (no database layer loaded)
        from campaign.series.project import load_project

        return load_project(s)
    from campaign.delivery.as_sent import load_project_as_sent

    if st is not None:
        return load_project_as_sent(s, st)
    with existing_store(s) as opened:
        return load_project_as_sent(s, opened)


@contextmanager
def existing_store(s: Settings):
    """The store when the ledger exists, else None (a missing SQLite file is not created just to look)."""
    if s.no_ledger_yet:
        yield None
        return
    from campaign.ledger.migrate import ledger_exists

    if not ledger_exists(s.database_url):
        yield None
        return
    with closing(store(s)) as opened:
        yield opened


def store(s: Settings | None = None) -> Store:
    from campaign.ledger.store import Store

    return Store.open((s or settings()).database_url)


def print_findings(p: Project, days=None) -> None:
    """Warnings and acknowledged errors are printed with every build — never silently dropped."""
    for warning in p.plan_warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
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
