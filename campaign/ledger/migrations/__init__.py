"""Alembic migrations of the ledger, for SQLite and PostgreSQL.

`env.py` takes its connection from code (`campaign.ledger.migrate`): no alembic.ini is read at run time.
Revision ids are short and ordered ("0001", "0002", ...); `HEAD` names the newest, so opening a store
checks the schema version without importing Alembic (a test checks that `HEAD` is Alembic's head).
To add one: copy the latest file in versions/, bump `revision` and `down_revision`, write `upgrade()` with
`op.*` (`op.batch_alter_table` for SQLite), change `schema.py` to match, and set `HEAD` to the new id.
"""

FIRST = "0001"  # the schema of campaign 0.1 (databases made before migrations are stamped with it)
HEAD = "0007"
