"""The delivery queue: owed deliveries enqueued in one statement, claimed in batches by workers holding a
lease, recorded only by the worker that holds them (fencing). The transitions are drawn in deliveries.py.

- enqueue: INSERT … SELECT of the owed subscribers as QUEUED rows with their crisis variant (a SQL CASE
  built from the project's country → variant mapping), ON CONFLICT DO NOTHING — one statement a day.
- claim_batch: QUEUED → INFLIGHT for at most `limit` rows of one variant, in subscriber order, whose
  subscriber is still active — one UPDATE (PostgreSQL: the rows picked `FOR UPDATE SKIP LOCKED`, so
  workers never wait for each other, and the subscribers joined in the same statement's RETURNING).
- renew_leases: pushes the lease of a worker's own in-flight rows; fewer rows than it holds = fenced.
- expire_leases: INFLIGHT → UNKNOWN only for rows whose lease passed, held by no worker (a ledger from
  before the queue) or by a worker on this host whose process is dead (a `kill -9` is seen at once).
- drop_inactive: queued rows of subscribers no longer active are deleted once a day's queue is drained:
  they are never sent, and no row is left queued for nobody (they would be owed again if reactivated).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, and_, bindparam, case, exists, func, literal, or_, select, text, update

from campaign.clock import utcnow
from campaign.ledger.liveness import alive
from campaign.ledger.schema import TEXT_ONLY, TEXT_VARIANT, Tables, UTCDateTime, deliveries, subscribers
from campaign.ledger.states import ACTIVE, INFLIGHT, QUEUED, UNKNOWN
from campaign.ledger.subscribers import Audience, audience_where

CLAIMED = (subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country, subscribers.c.timezone)


@dataclass(frozen=True)
class Variants:
    """The country → crisis-variant mapping as data (from `Project.variant_for`), for a SQL CASE."""

    by_country: Mapping[str, str]  # upper-case ISO code → variant
    no_country: str  # the variant of a subscriber without a country (the default country's)
    other: str  # the variant of a country with no row (the international block)

    def expression(self):
        country = func.upper(subscribers.c.country)
        grouped: dict[str, list[str]] = {}
        for code, variant in sorted(self.by_country.items()):
            grouped.setdefault(variant, []).append(code.upper())
        whens = [(or_(subscribers.c.country.is_(None), subscribers.c.country == ""), self.no_country)]
        whens += [(country.in_(codes), variant) for variant, codes in sorted(grouped.items())]
        crisis = case(*whens, else_=self.other)
        # a reader who chose plain text is queued under "<variant>+text" (schema.variant_key)
        return case((subscribers.c.format == TEXT_ONLY, crisis + literal(TEXT_VARIANT)), else_=crisis)


def owed_subscribers(
    day: date, cutoff: datetime, at: datetime, audience: Audience | None, *, with_paused: bool = False
):
    """WHERE of the subscribers a day is owed to: active, joined before its send time, not paused (or paused
    too, `with_paused`: whose part the send postpones, postponed.py)."""
    where = and_(subscribers.c.status == ACTIVE, subscribers.c.joined_at <= cutoff)
    if not with_paused:
        where = and_(where, or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
    return where if audience is None else and_(where, audience_where(audience))


class DeliveryQueue(Tables):
    def enqueue(
        self,
        day: date,
        cutoff: datetime,
        variants: Variants,
        *,
        at: datetime | None = None,
        audience: Audience | None = None,
    ) -> None:
        """Owed subscribers (no row yet) → QUEUED, with their variant, in one statement."""
        at = at or cutoff
        source = select(
            literal(day, type_=Date).label("day"),
            subscribers.c.id.label("subscriber_id"),
            literal(QUEUED.value).label("status"),
            literal(0).label("attempts"),
            literal(at, type_=UTCDateTime).label("updated_at"),
            variants.expression().label("variant"),
        ).where(owed_subscribers(day, cutoff, at, audience))
        columns = ["day", "subscriber_id", "status", "attempts", "updated_at", "variant"]
        statement = self.insert(deliveries).from_select(columns, source).on_conflict_do_nothing()
        with self.engine.begin() as conn:
            conn.execute(statement)

    def queued_variants(self, day: date) -> list[str]:
        with self.engine.connect() as conn:
            query = (
                select(deliveries.c.variant).distinct().where(deliveries.c.day == day, deliveries.c.status == QUEUED)
            )
            return sorted(v or "" for v in conn.execute(query).scalars())

    def claim_batch(
        self,
        day: date,
        variant: str,
        *,
        limit: int,
        worker_id: str,
        batch_id: str,
        after_id: int = 0,
        provider: str,
        lease_until: datetime,
        at: datetime | None = None,
    ) -> list:
        """QUEUED → INFLIGHT for up to `limit` rows of `variant` (still-active subscribers, by id, after
        `after_id`); returns the claimed subscribers (id, email, name, country, timezone), by id."""
        at = at or utcnow()
        pg = self.engine.dialect.name == "postgresql"
        pick = (
            select(deliveries.c.id)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day == day, deliveries.c.status == QUEUED, deliveries.c.variant == variant)
            .where(deliveries.c.subscriber_id > after_id)
            .where(subscribers.c.status == ACTIVE)
            # a pause made after the enqueue holds too (the pause itself moves the reader's queued rows, this
            # covers one made while the claim ran); such rows are settled by hold_paused once the queue drains
            .where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
            .order_by(deliveries.c.subscriber_id)
            .limit(limit)
            .correlate(None)
        )
        if pg:
            pick = pick.with_for_update(skip_locked=True, of=deliveries)
        values = {
            "status": INFLIGHT,
            "worker_id": worker_id,
            "lease_until": lease_until,
            "batch_id": batch_id,
            "provider": provider,
            "attempts": deliveries.c.attempts + 1,
            "updated_at": at,
        }
        claim = update(deliveries).where(deliveries.c.id.in_(pick.scalar_subquery())).values(**values)
        with self.engine.begin() as conn:
            if pg:  # one statement: the subscribers come back in the RETURNING
                rows = conn.execute(
                    claim.where(subscribers.c.id == deliveries.c.subscriber_id).returning(*CLAIMED)
                ).all()
            else:  # SQLite's RETURNING cannot name another table: one follow-up read by batch
                if not conn.execute(claim.returning(deliveries.c.id)).all():
                    return []
                rows = conn.execute(  # by batch id alone: with the day too, SQLite scans the whole day
                    select(*CLAIMED)
                    .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                    .where(deliveries.c.batch_id == batch_id)
                ).all()
        return sorted(rows, key=lambda r: r.id)

    def renew_leases(self, worker_id: str, batch_ids: Sequence[str], lease_until: datetime) -> int:
        """Push the lease of this worker's in-flight rows of these batches; returns how many it still holds."""
        if not batch_ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                update(deliveries)
                .where(deliveries.c.batch_id.in_(list(batch_ids)))
                .where(deliveries.c.worker_id == worker_id, deliveries.c.status == INFLIGHT)
                .values(lease_until=lease_until)
            ).rowcount

    def expire_leases(self, day: date, *, now: datetime | None = None) -> int:
        """INFLIGHT → UNKNOWN for rows no live worker holds: lease passed, no worker, or a dead local one."""
        now = now or utcnow()
        mine = and_(deliveries.c.day == day, deliveries.c.status == INFLIGHT)
        with self.engine.begin() as conn:
            holders = conn.execute(select(deliveries.c.worker_id).distinct().where(mine)).scalars().all()
            dead = [w for w in holders if w and not alive(w)]
            lapsed = or_(
                deliveries.c.worker_id.is_(None),
                deliveries.c.lease_until.is_(None),
                deliveries.c.lease_until < now,
                deliveries.c.worker_id.in_(dead),
            )
            # updated_at is left at the claim time: it says when the request may have gone out (an idempotency
            # key is only remembered for a while, see batches.IDEMPOTENCY_WINDOW).
            return conn.execute(
                update(deliveries)
                .where(mine, lapsed)
                .values(status=UNKNOWN, error="in flight when its sender stopped (lease expired)")
            ).rowcount

    def drop_inactive(self, day: date) -> int:
        """Delete the queued rows of subscribers who are no longer active (unsubscribed since the enqueue).
        Called once the queue is drained, so the rows still queued are few: they are read by the queue index
        first (an anti-join over the day would let stale statistics pick a scan of every subscriber)."""
        active = exists().where(subscribers.c.id == deliveries.c.subscriber_id, subscribers.c.status == ACTIVE)
        left = select(deliveries.c.id).where(deliveries.c.day == day, deliveries.c.status == QUEUED).limit(5000)
        dropped = 0
        with self.engine.begin() as conn:
            while ids := conn.execute(left).scalars().all():
                gone = conn.execute(
                    deliveries.delete().where(deliveries.c.id.in_(ids), deliveries.c.status == QUEUED, ~active)
                ).rowcount
                dropped += gone
                if gone < len(ids):  # the rest belongs to active subscribers (a concurrent enqueue): keep it
                    break
        return dropped

    def record_batch(
        self,
        day: date,
        batch_id: str,
        groups: Mapping[tuple[str, str | None, str | None], Sequence[int]],
        *,
        worker_id: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """INFLIGHT → outcome for one batch in ONE statement; returns how many rows it changed. Only rows of
        this day, this batch, in flight, and held by `worker_id` (when given) change: a worker whose rows were
        expired (fenced) changes nothing, and sees it in the count. `groups` maps (status, provider message id,
        error) to subscriber ids; one group is a plain UPDATE of the whole batch (`groups` then covers every row
        of it), several a join against a JSON document of the outcomes."""
        at = at or utcnow()
        # By batch id, not (day, status): batch ids are unique (and name their day), and the (day, 'inflight')
        # range of the queue index fills with dead entries of rows already recorded until PostgreSQL vacuums
        # it, which every record would step over; the batch index finds exactly this batch's rows.
        mine = and_(deliveries.c.batch_id == batch_id, deliveries.c.status == INFLIGHT)
        if worker_id is not None:
            mine = and_(mine, deliveries.c.worker_id == worker_id)
        with self.engine.begin() as conn:
            if len(groups) == 1:  # one outcome for the whole batch (SendGrid, a failed request): no id list
                ((status_, message_id, error),) = groups
                values = {"status": status_, "provider_message_id": message_id, "error": error, "updated_at": at}
                return conn.execute(update(deliveries).where(mine).values(**values)).rowcount
            document = json.dumps({str(i): [s, m, e] for (s, m, e), ids in groups.items() for i in ids})
            if self.engine.dialect.name == "postgresql":
                # The batch's rows are estimated at one, so PostgreSQL would re-read the document once per row
                # (a nested loop: 250,000 comparisons for 500 rows, ~130 ms); a hash join reads it once.
                conn.execute(text("SET LOCAL enable_nestloop = off"))
            return conn.execute(
                self._record_statement(worker_id is not None),
                {
                    "doc": document,
                    "batch": batch_id,
                    "worker": worker_id,
                    "at": at,
                },
            ).rowcount

    def _record_statement(self, fenced: bool):
        """PostgreSQL joins the outcomes as a set (jsonb_each, hashed); SQLite would scan json_each once per row
        (it puts the table-valued function inside the loop), so it looks each row's outcome up by path in the
        document, which it parses once per statement."""
        if self.engine.dialect.name == "postgresql":
            source, key = (
                " FROM jsonb_each(CAST(:doc AS jsonb)) AS v",
                "deliveries.subscriber_id = CAST(v.key AS INTEGER) AND ",
            )
            field = "v.value ->> {}"
        else:
            source, key = "", ""
            field = "json_extract(:doc, '$.\"' || deliveries.subscriber_id || '\"[{}]')"
        sql = (
            f"UPDATE deliveries SET status = {field.format(0)}, provider_message_id = {field.format(1)}, "
            f"error = {field.format(2)}, updated_at = :at{source} WHERE {key}"
            f"deliveries.batch_id = :batch AND deliveries.status = '{INFLIGHT.value}'"
            + (" AND deliveries.worker_id = :worker" if fenced else "")
        )
        params = [bindparam("at", type_=UTCDateTime), bindparam("batch", type_=String)]
        params += [bindparam("doc", type_=String)] + ([bindparam("worker", type_=String)] if fenced else [])
        return text(sql).bindparams(*params)

    def release(self, day: date, batch_id: str, *, restore_to: str | None = None, worker_id: str | None = None) -> int:
        """Give back a claimed batch that was never sent (bad credentials, a stop during a back-off): fresh
        claims go back to QUEUED (owed again), rows reclaimed from failed or unknown back to that state."""
        where = and_(deliveries.c.day == day, deliveries.c.batch_id == batch_id, deliveries.c.status == INFLIGHT)
        if worker_id is not None:
            where = and_(where, deliveries.c.worker_id == worker_id)
        values: dict[str, Any]
        if restore_to in (None, QUEUED):
            values = {"status": QUEUED, "batch_id": None, "attempts": deliveries.c.attempts - 1}
        else:
            values = {"status": restore_to, "error": "not sent: the send stopped before this batch"}
        with self.engine.begin() as conn:
            return conn.execute(
                update(deliveries).where(where).values(worker_id=None, lease_until=None, updated_at=utcnow(), **values)
            ).rowcount

    def live_workers(self, day: date, *, now: datetime | None = None) -> list[str]:
        """Workers holding unexpired in-flight rows of `day` (what `campaign status` calls "sending")."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            query = (
                select(deliveries.c.worker_id)
                .distinct()
                .where(deliveries.c.day == day, deliveries.c.status == INFLIGHT, deliveries.c.lease_until >= now)
            )
            return sorted(w for w in conn.execute(query).scalars() if alive(w))

    def days_queued(self, days: Sequence[date]) -> list[date]:
        """Which of `days` still have queued rows (what `campaign worker` looks for)."""
        out = []
        with self.engine.connect() as conn:
            for day in days:
                probe = select(deliveries.c.id).where(deliveries.c.day == day, deliveries.c.status == QUEUED).limit(1)
                if conn.execute(probe).first() is not None:
                    out.append(day)
        return out
