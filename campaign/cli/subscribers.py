"""`campaign subscribers import | list | unsubscribe`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from campaign.cli.app import err, out, store, subscribers_app
from campaign.errors import InvalidInput
from campaign.ledger.states import UNSUBSCRIBED


@subscribers_app.command("import")
def subscribers_import(
    file: Path = typer.Argument(
        ..., help="CSV with an email column; optional name, country, timezone, joined_at (ISO 8601)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Import nothing if any row is invalid."),
) -> None:
    """Import subscribers from a CSV file (idempotent; never re-subscribes an unsubscribed address).

    Example: campaign subscribers import subscribers.csv
    """
    from campaign.cli.app import settings
    from campaign.ledger.csv_import import import_subscribers
    from campaign.providers import utf8_local_for

    utf8_local = utf8_local_for(settings())  # accented local parts only where the provider can send them
    st = store()
    try:
        report = import_subscribers(st, file, strict=strict, utf8_local=utf8_local, erased_key=settings().secret_key)
    finally:
        st.close()
    for problem in report.rejected:
        err.print(f"rejected: {problem}")
    out.print(
        f"imported {file.name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.kept_suppressed} kept unsubscribed, {report.duplicates} duplicate(s) in the file, "
        f"{len(report.rejected)} rejected"
    )
    if report.rejected:  # the valid rows are in; the exit code tells a script that some were not
        raise typer.Exit(2)


@subscribers_app.command("list")
def subscribers_list(
    status_: Optional[str] = typer.Option(None, "--status", help="Only this status (active, unsubscribed, ...)."),
) -> None:
    """List subscribers.

    Example: campaign subscribers list --status active
    """
    from rich.table import Table

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
    from campaign.errors import Problem

    st = store()
    try:
        sub = st.subscriber_by_email(email)
        if sub is None:
            raise InvalidInput(
                Problem(
                    "argument",
                    None,
                    "EMAIL",
                    f"{email} is not a subscriber",
                    "check the spelling with `campaign subscribers list`",
                )
            )
        if st.suppress(sub.id, UNSUBSCRIBED, "unsubscribed by an operator"):
            out.print(f"{sub.email} unsubscribed")
        else:  # already suppressed: its first reason (a bounce, a complaint) stands
            out.print(f"{sub.email} is already {sub.status}: it is never sent to")
    finally:
        st.close()
