"""The ledger: everything the campaign stores, and the only package that speaks SQL.

Owns: the schema and its `StrEnum` states (schema.py), the Alembic migrations (migrations/, migrate.py),
one module per table group — subscribers (with the one suppress), deliveries (the delivery state machine),
issues, events (and webhook replay tokens), locks and key/value state, welcomes — the `Store` composing
them (store.py), the subscriber address rules (addresses.py) and the CSV import (csv_import.py).

May import: `campaign.errors`, `campaign.config`, `campaign.clock`, SQLAlchemy and Alembic — never
`delivery`, `providers`, `timing`, `web` or `cli`. Callers pass plain values in (e.g. `Audience`) and get
rows or dataclasses out; no SQLAlchemy clause leaves this package.
"""
