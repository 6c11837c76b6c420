"""Readers' privacy in the ledger: access (export), erasure with a keyed hash kept for suppression, and
retention (GDPR Art. 15, 17, 5(1)(e); consent on record, Art. 7(1), is written by the sign-up).

Erasure, in one transaction:
- the keyed hash (HMAC-SHA256 with CAMPAIGN_SECRET_KEY, of the normalised address) goes into
  `erased_addresses`: an import reports the address as erased and skips it; only a new confirmed sign-up
  brings it back (and removes the hash);
- every event about the reader (webhooks, sign-up, pauses, preferences) is deleted;
- the subscriber row keeps only its id, its state (never sent to: unsubscribed unless already bounced or
  complained) and `erased_at`; the address becomes `erased-<id>` (no @: not an address), name, country, time
  zone, format, pause, consent and reasons are cleared; the deliveries keep their day and state (so the counts
  of earlier days stay the same) but lose the provider's message id and error text (which may quote the
  address): linked to nobody;
- SQLite: the connection erases with `secure_delete` on (the old bytes are zeroed, not left in free space),
  then the WAL is checkpointed and truncated, so the address's bytes are in no file of the database.
  PostgreSQL keeps dead tuples until VACUUM: `erase` runs `VACUUM` on the touched tables when it can.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, text, update

from campaign.errors import ErasureIncomplete
from campaign.ledger.schema import Tables, deliveries, erased_addresses, events, signups, subscribers, welcomes
from campaign.ledger.states import PENDING, SUPPRESSED, UNSUBSCRIBED

ERASED_PREFIX = "erased-"

TOUCHED = ("subscribers", "events", "deliveries", "signups", "welcomes", "erased_addresses")


def address_hash(key: str, email: str) -> str:
    """The keyed hash of a normalised address (lower case, as stored): not reversible without the key."""
    return hmac.new(key.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Privacy(Tables):
    def is_erased(self, subscriber_id: int) -> bool:
        with self.engine.connect() as conn:
            erased = conn.execute(select(subscribers.c.erased_at).where(subscribers.c.id == subscriber_id)).scalar()
        return erased is not None

    def paused_until(self, subscriber_id: int) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(subscribers.c.paused_until).where(subscribers.c.id == subscriber_id)).scalar()

    def all_erased_hashes(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(erased_addresses.c.address_hash)).scalars())

    def erased_hashes(self, hashes: list[str]) -> set[str]:
        """Which of `hashes` belong to erased addresses."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start : start + 500]
                found.update(
                    conn.execute(
                        select(erased_addresses.c.address_hash).where(erased_addresses.c.address_hash.in_(chunk))
                    ).scalars()
                )
        return found

    def forget_erasure(self, key_hash: str) -> None:
        """A confirmed sign-up brought the address back: it is a subscriber again, no longer 'erased'."""
        with self.engine.begin() as conn:
            conn.execute(delete(erased_addresses).where(erased_addresses.c.address_hash == key_hash))

    # -- access -----------------------------------------------------------------------------------------
    def export_subscriber(self, subscriber_id: int) -> dict[str, Any] | None:
        """Everything held about one reader, as JSON-ready data (GDPR Art. 15 and 20)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            if row is None or row.erased_at is not None:
                return None
            requested = conn.execute(
                select(signups.c.requested_at).where(signups.c.subscriber_id == subscriber_id)
            ).scalar()
            sent = conn.execute(
                select(deliveries).where(deliveries.c.subscriber_id == subscriber_id).order_by(deliveries.c.day)
            ).all()
            about = conn.execute(
                select(events)
                .where(or_(events.c.subscriber_id == subscriber_id, events.c.email == row.email))
                .order_by(events.c.received_at, events.c.id)
            ).all()
        return {
            "profile": {
                "id": row.id,
                "email": row.email,
                "name": row.name,
                "country": row.country,
                "timezone": row.timezone,
                "status": row.status,
                "status_reason": row.status_reason,
                "status_changed_at": _iso(row.status_changed_at),
                "joined_at": _iso(row.joined_at),
                "source": row.source,
            },
            "preferences": {"format": row.format or "html", "paused_until": _iso(row.paused_until)},
            "consent": {
                "signed_up_at": _iso(row.consent_at),
                "form_wording_version": row.consent_version,
                "confirmed_at": _iso(row.confirmed_at),
                "last_sign_up_request_at": _iso(requested),
                "how": "imported by the organiser" if row.source == "import" else "sign-up form, double opt-in",
            },
            "deliveries": [
                {
                    "day": d.day.isoformat(),
                    "state": d.status,
                    "time": _iso(d.updated_at),
                    "provider": d.provider,
                    "provider_message_id": d.provider_message_id,
                    "attempts": d.attempts,
                    "error": d.error,
                }
                for d in sent
            ],
            "events": [
                {
                    "received_at": _iso(e.received_at),
                    "source": e.provider,
                    "kind": e.kind,
                    "details": json.loads(e.payload) if e.payload else None,
                }
                for e in about
            ],
        }

    # -- erasure ----------------------------------------------------------------------------------------
    def erase_subscriber(self, subscriber_id: int, *, key: str, at: datetime, scrub: bool = True) -> bool:
        """Erase one reader (see the module docstring); False when there is nobody (left) to erase. `scrub`:
        clean the database files now (a purge of many does it once, at the end)."""
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            row = conn.execute(
                select(subscribers.c.email, subscribers.c.status, subscribers.c.erased_at).where(
                    subscribers.c.id == subscriber_id
                )
            ).first()
            if row is None or row.erased_at is not None:
                return False
            digest = address_hash(key, row.email)
            exists_ = conn.execute(
                select(erased_addresses.c.address_hash).where(erased_addresses.c.address_hash == digest)
            ).first()
            if exists_ is None:
                conn.execute(insert(erased_addresses).values(address_hash=digest, erased_at=at))
            conn.execute(
                delete(events).where(or_(events.c.subscriber_id == subscriber_id, events.c.email == row.email))
            )
            conn.execute(delete(signups).where(signups.c.subscriber_id == subscriber_id))
            conn.execute(
                update(welcomes)
                .where(welcomes.c.subscriber_id == subscriber_id)
                .values(provider_message_id=None, error=None)
            )
            conn.execute(
                update(deliveries)
                .where(deliveries.c.subscriber_id == subscriber_id)
                .values(provider_message_id=None, error=None, worker_id=None)
            )
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(
                    email=f"{ERASED_PREFIX}{subscriber_id}",
                    name=None,
                    country=None,
                    timezone=None,
                    format=None,
                    paused_until=None,
                    consent_at=None,
                    consent_version=None,
                    confirmed_at=None,
                    status=row.status if row.status in SUPPRESSED else UNSUBSCRIBED,
                    status_reason="erased at the reader's request",
                    status_changed_at=at,
                    joined_at=at,
                    source="erased",
                    erased_at=at,
                )
            )
        if scrub:
            self.scrub_files()
        return True

    def scrub_files(self, *, vacuum: bool = True) -> None:
        """After an erasure: SQLite's WAL checkpointed and truncated (its old page images gone); PostgreSQL's
        touched tables vacuumed (dead tuples removed) unless `vacuum=False` (a web request: the daily purge
        vacuums). Backups and the server's own WAL archive are outside."""
        if self.engine.dialect.name == "sqlite":
            for _ in range(50):  # a reader in another process holds the WAL for a moment: try again
                with self.engine.connect() as conn:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                if not busy or not busy[0]:
                    return
                time.sleep(0.1)
            raise ErasureIncomplete(
                "the erasure is recorded, but the database's WAL could not be truncated while another process "
                "reads it; run the command again (or stop `campaign serve` for a moment)"
            )
        if not vacuum:
            return
        with self.engine.connect() as conn:
            autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in TOUCHED:
                autocommit.execute(text(f"VACUUM {table}"))

    def purge_expired(self, *, key: str, cutoff: datetime, at: datetime) -> int:
        """Erase everyone who left (or never confirmed) before `cutoff`; returns how many."""
        erased = sum(self.erase_subscriber(i, key=key, at=at, scrub=False) for i in self.suppressed_before(cutoff))
        self.scrub_files()  # every day, erasures or not: it also finishes a clean-up a web request left to it
        return erased

    def suppressed_before(self, cutoff: datetime) -> list[int]:
        """Readers unsubscribed, bounced or complained before `cutoff` (and not erased yet): what retention
        purges — and sign-ups never confirmed since before it."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(subscribers.c.id)
                    .where(subscribers.c.erased_at.is_(None))
                    .where(subscribers.c.status.in_([*SUPPRESSED, PENDING]))
                    .where(subscribers.c.status_changed_at < cutoff)
                    .order_by(subscribers.c.id)
                ).scalars()
            )
