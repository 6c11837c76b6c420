"""Named locks held in the database, and the key/value state (pause, scheduler bookkeeping).

SQLite (one machine): a lock is a row naming its holder (host:pid), taken by one INSERT … ON CONFLICT DO
UPDATE that only succeeds when the row is free or already ours; a dead local holder's row is taken over.
PostgreSQL (many machines): a lock is a session-level advisory lock held on a connection of its own, so
the server frees it the moment the holder's connection dies (kill -9, a dead host) and a standby takes
over; the row is kept too, only to say who holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, text

from campaign.clock import utcnow
from campaign.errors import LockHeld
from campaign.ledger.liveness import alive, this_process
from campaign.ledger.schema import Tables, locks, state


class LocksAndState(Tables):
    # -- key/value state --------------------------------------------------------------------------------
    def get_state(self, key: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(state.c.value).where(state.c.key == key)).first()
        return json.loads(row.value) if row else None

    def set_state(self, key: str, value: Any) -> None:
        upsert = self.insert(state).values(
            key=key, value=json.dumps(value, sort_keys=True, default=str), updated_at=utcnow()
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[state.c.key],
            set_={"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at},
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def add_state(self, key: str, value: Any) -> Any:
        """Set `key` only when it is not set yet (two processes at once: the first one wins); returns the value
        now stored."""
        insert = self.insert(state).values(
            key=key, value=json.dumps(value, sort_keys=True, default=str), updated_at=utcnow()
        )
        with self.engine.begin() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=[state.c.key]))
        return self.get_state(key)

    def delete_state(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(state.delete().where(state.c.key == key))

    # -- locks ----------------------------------------------------------------------------------------
    def lock_holder(self, name: str) -> str | None:
        """Who holds lock `name` (host:pid), or None — a dead holder counts as none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(locks.c.owner).where(locks.c.name == name)).first()
            if row is None:
                return None
            if self.engine.dialect.name == "postgresql":
                high, low = _advisory_parts(name)
                held = conn.execute(
                    text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = :h AND objid = :l"),
                    {"h": high, "l": low},
                ).first()
                return row.owner if held else None
        return row.owner if alive(row.owner) else None

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A named lock held in the database, so two processes never run the same send or scheduler.

        A lock whose holder is a dead process on this host is taken over (a `kill -9` must not wedge the
        campaign). On another host we cannot tell, so it is reported and left to the operator.
        """
        owner = this_process()
        if self.engine.dialect.name == "postgresql":
            with self._advisory_lock(name, owner):
                yield
            return
        self._take_lock(name, owner)
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == owner))

    @contextmanager
    def _advisory_lock(self, name: str, owner: str) -> Iterator[None]:
        key = _advisory_key(name)
        session = self.engine.connect()  # the lock lives exactly as long as this connection
        try:
            got = session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            session.commit()  # a session-level lock outlives the transaction; do not sit idle in one
            if not got:
                row = session.execute(select(locks).where(locks.c.name == name)).first()
                session.rollback()
                raise LockHeld(name, row.owner if row else "another process", row.acquired_at if row else utcnow())
            record = self.insert(locks).values(name=name, owner=owner, acquired_at=utcnow())
            record = record.on_conflict_do_update(
                index_elements=[locks.c.name],
                set_={"owner": record.excluded.owner, "acquired_at": record.excluded.acquired_at},
            )
            with self.engine.begin() as conn:
                conn.execute(record)  # we hold the lock: a row left by a dead holder is ours to overwrite
            try:
                yield
            finally:
                with self.engine.begin() as conn:
                    conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == owner))
                session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                session.commit()
        finally:
            session.close()

    def _take_lock(self, name: str, owner: str) -> None:
        holder = None
        for _ in range(5):
            now = utcnow()
            upsert = self.insert(locks).values(name=name, owner=owner, acquired_at=now)
            upsert = upsert.on_conflict_do_update(
                index_elements=[locks.c.name],
                set_={"owner": upsert.excluded.owner, "acquired_at": upsert.excluded.acquired_at},
                where=locks.c.owner == owner,
            ).returning(locks.c.owner)
            with self.engine.begin() as conn:
                if conn.execute(upsert).first() is not None:
                    return
                holder = conn.execute(select(locks).where(locks.c.name == name)).first()
                if holder is None:
                    continue  # released between our insert and our read: try again
                if alive(holder.owner):
                    raise LockHeld(name, holder.owner, holder.acquired_at)
                # Its holder died on this host: take it over (only if it is still that dead holder's).
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == holder.owner))
        raise LockHeld(name, holder.owner if holder else "another process", holder.acquired_at if holder else utcnow())


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"campaign:{name}".encode()).digest()[:8], "big", signed=True)


def _advisory_parts(name: str) -> tuple[int, int]:
    """The key as pg_locks shows it: classid (high 32 bits) and objid (low 32 bits), both unsigned."""
    unsigned = _advisory_key(name) & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF
