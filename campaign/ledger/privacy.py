"""Readers' privacy in the ledger: the consent record, access (export), erasure with a keyed hash kept for
suppression, and retention.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from campaign.ledger.schema import Tables, subscribers


class Privacy(Tables):
    def is_erased(self, subscriber_id: int) -> bool:
        with self.engine.connect() as conn:
            erased = conn.execute(select(subscribers.c.erased_at).where(subscribers.c.id == subscriber_id)).scalar()
        return erased is not None

    def paused_until(self, subscriber_id: int) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(subscribers.c.paused_until).where(subscribers.c.id == subscriber_id)).scalar()
