"""The deliveries table is the ledger: one row per (issue day, subscriber), unique — it alone decides who
is still owed an issue. Every transition below is one method, and its WHERE names the rows it may touch.

               enqueue()            claim_batch()                   record_batch() / record()
  (owed: no row) ──────▶ QUEUED ─────────────────▶ INFLIGHT ─────────────────────────▶ SENT | FAILED | REJECTED | UNKNOWN
                          ▲  │ drop_inactive()     (worker_id,   │ ▲                                          │
                          │  ▼ (unsubscribed        lease_until) │ │  reclaim(from_states=FAILED/UNKNOWN/…)   │
                          │  (no row)  since)                    │ └──────────────────────────────────────────┘
                          │  release() (claimed, never sent)     │
                          └──────────────────────────────────────┤ expire_leases()  (lease passed, or its worker's
                                                                 ▼  process on this host is dead: it may have gone out)
                                                              UNKNOWN
    release(restore_to=S): INFLIGHT → S, for rows reclaimed from S whose batch was never sent.

Owed = no row or QUEUED (count_owed, dry runs). Leases: a worker stamps the rows it claims with its id
(host:pid:random) and `lease_until`, renews them while it works (renew_leases), and records only rows it
still holds; no worker touches rows of another whose lease is live.

- enqueue: INSERT … SELECT of the owed subscribers, ON CONFLICT DO NOTHING (queue.py).
- claim_batch: only QUEUED rows of this day and variant whose subscriber is still active (queue.py).
- record_batch / record: only rows of this day that are INFLIGHT (of this batch, and of this worker).
- reclaim: only rows of this day in `from_states` whose subscriber is still active.
- release: only this batch's INFLIGHT rows of this day (of this worker).
- expire_leases: only INFLIGHT rows of one day whose holder is gone.
A subscriber's own pause adds POSTPONED → READY before `reclaim(from_states=READY)`: see postponed.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, exists, func, not_, select, update

from campaign.clock import utcnow
from campaign.ledger.queue import DeliveryQueue, Variants, owed_subscribers
from campaign.ledger.schema import Tables, deliveries, subscribers
from campaign.ledger.states import ACTIVE, INFLIGHT, QUEUED
from campaign.ledger.subscribers import Audience, audience_where


@dataclass(frozen=True)
class DeliveryOutcome:
    subscriber_id: int
    status: str  # SENT | FAILED | REJECTED
    message_id: str | None = None
    error: str | None = None


class DeliveryLedger(DeliveryQueue, Tables):
    # -- who is owed ----------------------------------------------------------------------------------
    def owed_query(
        self,
        day: date,
        cutoff: datetime,
        *,
        at: datetime | None = None,
        audience: Audience | None = None,
        with_paused: bool = False,
    ):
        """Active subscribers owed `day`: joined before its send time, not paused (unless `with_paused`: the
        send then records their part as postponed, postponed.py), no ledger row yet or only a queued one. For
        counts (status, dry runs): a send enqueues instead of reading this."""
        taken = exists().where(
            and_(deliveries.c.day == day, deliveries.c.subscriber_id == subscribers.c.id, deliveries.c.status != QUEUED)
        )
        return (
            select(
                subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country, subscribers.c.timezone
            )
            .where(owed_subscribers(day, cutoff, at or cutoff, audience, with_paused=with_paused))
            .where(not_(taken))
        )

    def count_owed(
        self,
        day: date,
        cutoff: datetime,
        *,
        at: datetime | None = None,
        audience: Audience | None = None,
        with_paused: bool = False,
    ) -> int:
        owed = self.owed_query(day, cutoff, at=at, audience=audience, with_paused=with_paused)
        query = select(func.count()).select_from(owed.subquery())
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def count_owed_by_variant(
        self, day: date, cutoff: datetime, variants: Variants, *, at: datetime | None = None, audience=None
    ) -> dict[str, int]:
        """What a dry run reports: owed subscribers per crisis variant (the enqueue's CASE, grouped)."""
        owed = self.owed_query(day, cutoff, at=at, audience=audience).add_columns(variants.expression().label("v"))
        inner = owed.subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(select(inner.c.v, func.count()).group_by(inner.c.v))
            return {v: n for v, n in rows}

    # -- transitions (the queue's are in queue.py) --------------------------------------------------
    def reclaim(
        self,
        day: date,
        subscriber_ids: Sequence[int],
        *,
        batch_id: str,
        provider: str,
        from_states: Iterable[str],
        at: datetime | None = None,
        worker_id: str | None = None,
        lease_until: datetime | None = None,
    ) -> list[int]:
        """FAILED (or UNKNOWN on an explicit resend) → INFLIGHT under a new batch, for still-active subscribers,
        held by `worker_id` until `lease_until` (without a worker the rows expire at the next expire_leases)."""
        if not subscriber_ids:
            return []
        at = at or utcnow()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(deliveries)
                .where(deliveries.c.day == day)
                .where(deliveries.c.subscriber_id.in_(list(subscriber_ids)))
                .where(deliveries.c.status.in_(list(from_states)))
                .where(deliveries.c.subscriber_id.in_(select(subscribers.c.id).where(subscribers.c.status == ACTIVE)))
                .values(
                    status=INFLIGHT,
                    batch_id=batch_id,
                    provider=provider,
                    error=None,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=at,
                    worker_id=worker_id,
                    lease_until=lease_until,
                )
                .returning(deliveries.c.subscriber_id)
            ).scalars()
            return sorted(claimed)

    def record(
        self,
        day: date,
        results: Iterable[DeliveryOutcome],
        *,
        at: datetime | None = None,
        worker_id: str | None = None,
    ) -> int:
        """INFLIGHT → the outcome, one row per result, in one transaction; only this worker's rows (when
        given). Returns how many rows changed."""
        at = at or utcnow()
        params = [
            {"d": day, "sid": r.subscriber_id, "st": r.status, "mid": r.message_id, "err": r.error, "at": at}
            for r in results
        ]
        if not params:
            return 0
        stmt = (
            update(deliveries)
            .where(
                deliveries.c.day == bindparam("d"),
                deliveries.c.subscriber_id == bindparam("sid"),
                deliveries.c.status == INFLIGHT,
            )
            .values(
                status=bindparam("st"),
                provider_message_id=bindparam("mid"),
                error=bindparam("err"),
                updated_at=bindparam("at"),
            )
        )
        if worker_id is not None:
            stmt = stmt.where(deliveries.c.worker_id == worker_id)
        with self.engine.begin() as conn:
            return sum(conn.execute(stmt, p).rowcount for p in params)

    # -- reading the ledger ---------------------------------------------------------------------------
    def rows_in_state(
        self, day: date, status: str, *, after_id: int, limit: int, audience: Audience | None = None
    ) -> list:
        """Ledger rows of one state joined to their (still active) subscribers, for retries and resends."""
        query = (
            select(
                subscribers.c.id,
                subscribers.c.email,
                subscribers.c.name,
                subscribers.c.country,
                subscribers.c.timezone,
                subscribers.c.format,
                deliveries.c.batch_id,
            )
            .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
            .where(deliveries.c.day == day, deliveries.c.status == status)
            .where(subscribers.c.status == ACTIVE)
            .where(subscribers.c.id > after_id)
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        if audience is not None:
            query = query.where(audience_where(audience))
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def count_in_state(self, day: date, status_: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.day == day, deliveries.c.status == status_)
            ).scalar_one()

    def rows_by_batch(self, day: date, status_: str) -> list:
        """Every ledger row of one state with its subscriber (any status), by batch then subscriber — to resend
        unknown batches exactly as they were first sent (Resend's idempotency key covers the whole batch)."""
        query = (
            select(
                deliveries.c.batch_id,
                deliveries.c.updated_at,
                subscribers.c.id,
                subscribers.c.email,
                subscribers.c.name,
                subscribers.c.country,
                subscribers.c.timezone,
                subscribers.c.format,
                subscribers.c.status.label("subscriber_status"),
            )
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day == day, deliveries.c.status == status_)
            .order_by(deliveries.c.batch_id, subscribers.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def delivery_counts(self) -> dict[date, dict[str, int]]:
        out: dict[date, dict[str, int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.day, deliveries.c.status, func.count()).group_by(
                    deliveries.c.day, deliveries.c.status
                )
            )
            for day, status, n in rows:
                out.setdefault(day, {})[status] = n
        return out

    def deliveries_for(self, day: date) -> list:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(deliveries, subscribers.c.email)
                    .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                    .where(deliveries.c.day == day)
                    .order_by(deliveries.c.subscriber_id)
                )
            )
