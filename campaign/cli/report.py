"""`campaign report`: per-day delivered, clicks by link, opens (approximate), unsubscribes, pauses and
complaints — aggregate counts only, never a reader (ledger/engagement.py)."""

from __future__ import annotations

import json

import typer

from campaign.cli.app import app, out, store


@app.command()
def report(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show what the series did, per day, without following anyone: delivered, link clicks (with
    `engagement: aggregate`), opens (approximate, with `opens: aggregate`), unsubscribes, pauses, complaints.

    Example: campaign report --json
    """
    st = store()
    try:
        days = st.engagement_report()
    finally:
        st.close()
    if as_json:
        out.print(json.dumps({"days": days, "opens_are_approximate": True}, indent=2))
        return
    from rich.table import Table

    table = Table()
    for column in ("day", "delivered", "clicks", "opens (approx.)", "unsubscribes", "pauses", "complaints"):
        table.add_column(column)
    for d in days:
        clicks = ", ".join(f"{link}: {n}" for link, n in sorted(d["clicks"].items())) or "0"
        table.add_row(
            d["day"],
            str(d["delivered"]),
            clicks,
            str(d["opens"]),
            str(d["unsubscribes"]),
            str(d["pauses"]),
            str(d["complaints"]),
        )
    out.print(table)
    out.print("Opens are approximate: mail clients fetch images in advance, and many block them.")
