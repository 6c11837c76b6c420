"""Alembic environment: runs on the connection `campaign.ledger.migrate` hands over (online mode only)."""

from __future__ import annotations

from alembic import context

from campaign.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `campaign db upgrade` (the connection comes from campaign)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
