"""`campaign db upgrade`: bring the database (CAMPAIGN_DATABASE_URL) to this version's schema."""

from __future__ import annotations

import typer

from campaign.cli.app import app, out, settings

db_app = typer.Typer(no_args_is_help=True, help="Manage the database schema (migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema in place, keeping every row (back the database up first).

    A database made by campaign 0.1 is recognised and upgraded; an empty one is created.
    Example: campaign db upgrade
    """
    from campaign.ledger import migrate

    engine = migrate.engine_for(settings().database_url)
    try:
        before, after = migrate.upgrade(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"{shown}: already at schema {after}, nothing to do")
    elif before is None:
        out.print(f"{shown}: created schema {after}")
    else:
        out.print(f"{shown}: upgraded from {before or 'campaign 0.1'} to schema {after}")
