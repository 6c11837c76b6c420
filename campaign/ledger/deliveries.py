"""The deliveries table is the ledger: one row per (issue day, subscriber), unique — it alone decides who
is still owed an issue. Every transition below is one method, and its WHERE names the rows it may touch.

                  claim()                            record_batch() / record()
    (owed: no row) ──────────▶ INFLIGHT ──────────────────────────▶ SENT | FAILED | REJECTED | UNKNOWN
          ▲                     │   │ ▲                                        │
          │  release()          │   │ │  reclaim(from_states=FAILED/UNKNOWN)   │
          └─────────────────────┘   │ └────────────────────────────────────────┘
             (a fresh claim that    │
              was never sent)       │ mark_inflight_unknown()  (its sender died: it may have gone out)
                                    ▼
                                 UNKNOWN
    release(restore_to=S): INFLIGHT → S, for rows reclaimed from S whose batch was never sent.

- claim: INSERT … SELECT of the subscribers still active, ON CONFLICT DO NOTHING, RETURNING what it claimed.
- record_batch / record: only rows of this day that are INFLIGHT (record_batch: of this batch).
- reclaim: only rows of this day in `from_states` whose subscriber is still active.
- release: only this batch's INFLIGHT rows of this day.
- mark_inflight_unknown: only INFLIGHT rows (of one day, when given).
A subscriber's own pause adds POSTPONED → READY before `reclaim(from_states=READY)`: see postponed.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, and_, bindparam, exists, func, literal, not_, or_, select, update

from campaign.clock import utcnow
from campaign.ledger.schema import ACTIVE, INFLIGHT, UNKNOWN, Tables, UTCDateTime, deliveries, subscribers
from campaign.ledger.subscribers import Audience, audience_where


@dataclass(frozen=True)
class DeliveryOutcome:
    subscriber_id: int
    status: str  # SENT | FAILED | REJECTED
    message_id: str | None = None
    error: str | None = None


class DeliveryLedger(Tables):
    _claim_statements: dict[str, Any] = {}

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
        send then records their part as postponed), no ledger row yet."""
        at = at or cutoff
        query = (
            select(
                subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country, subscribers.c.timezone
            )
            .where(subscribers.c.status == ACTIVE)
            .where(subscribers.c.joined_at <= cutoff)
            .where(not_(exists().where(and_(deliveries.c.day == day, deliveries.c.subscriber_id == subscribers.c.id))))
        )
        if not with_paused:
            query = query.where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
        return query if audience is None else query.where(audience_where(audience))

    def owed_page(
        self,
        day: date,
        cutoff: datetime,
        *,
        after_id: int,
        limit: int,
        at: datetime | None = None,
        audience: Audience | None = None,
        extra_where: Audience | None = None,
    ) -> list:
        """The next page of owed subscribers, by id (keyset paging: memory stays flat on any list size).
        `audience` narrows it (`extra_where` is its older name)."""
        query = self.owed_query(day, cutoff, at=at, audience=audience or extra_where)
        query = query.where(subscribers.c.id > after_id).order_by(subscribers.c.id).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

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

    # -- transitions --------------------------------------------------------------------------------
    def claim(
        self, day: date, subscriber_ids: Sequence[int], *, batch_id: str, provider: str, at: datetime | None = None
    ) -> list[int]:
        """owed → INFLIGHT, *before* the request; returns the ids this call claimed.

        The insert re-reads each subscriber's status in the same statement, so someone who unsubscribed
        after the page was read is not claimed; a row that already exists (another sender got there
        first) is left alone and not returned.
        """
        if not subscriber_ids:
            return []
        at = at or utcnow()
        with self.engine.begin() as conn:
            # One prepared statement with an expanding IN: building the clause from 1000 literals each time
            # cost as much as the insert itself (this runs once per batch of a large send).
            claimed = conn.execute(
                self._claim_statement(),
                {"day": day, "ids": list(subscriber_ids), "batch_id": batch_id, "provider": provider, "at": at},
            ).scalars()
            return sorted(claimed)

    def _claim_statement(self):
        """INSERT … SELECT of in-flight rows for the given active subscribers, skipping rows that exist."""
        statement = self._claim_statements.get(self.engine.dialect.name)
        if statement is None:
            source = select(
                bindparam("day", type_=Date).label("day"),
                subscribers.c.id.label("subscriber_id"),
                literal(INFLIGHT.value).label("status"),
                bindparam("batch_id", type_=String).label("batch_id"),
                bindparam("provider", type_=String).label("provider"),
                literal(1).label("attempts"),
                bindparam("at", type_=UTCDateTime).label("updated_at"),
            ).where(subscribers.c.id.in_(bindparam("ids", expanding=True)), subscribers.c.status == ACTIVE)
            statement = (
                self.insert(deliveries)
                .from_select(
                    ["day", "subscriber_id", "status", "batch_id", "provider", "attempts", "updated_at"], source
                )
                .on_conflict_do_nothing()
                .returning(deliveries.c.subscriber_id)
            )
            self._claim_statements[self.engine.dialect.name] = statement
        return statement

    def reclaim(
        self,
        day: date,
        subscriber_ids: Sequence[int],
        *,
        batch_id: str,
        provider: str,
        from_states: Iterable[str],
        at: datetime | None = None,
    ) -> list[int]:
        """FAILED (or UNKNOWN on an explicit resend) → INFLIGHT under a new batch, for still-active subscribers."""
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
                )
                .returning(deliveries.c.subscriber_id)
            ).scalars()
            return sorted(claimed)

    def record(self, day: date, results: Iterable[DeliveryOutcome], *, at: datetime | None = None) -> None:
        """INFLIGHT → the outcome, one row per result, in one transaction (the checkpoint)."""
        at = at or utcnow()
        params = [
            {"d": day, "sid": r.subscriber_id, "st": r.status, "mid": r.message_id, "err": r.error, "at": at}
            for r in results
        ]
        if not params:
            return
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
        with self.engine.begin() as conn:
            conn.execute(stmt.execution_options(synchronize_session=False), params)

    def record_batch(
        self,
        day: date,
        batch_id: str,
        groups: Mapping[tuple[str, str | None, str | None], Sequence[int]],
        *,
        at: datetime | None = None,
    ) -> None:
        """INFLIGHT → outcome for one batch, in one transaction. `groups` maps (status, provider message id,
        error) to the subscriber ids with that outcome: a request accepted under one id (or failed for one
        reason) is a single UPDATE; per-message ids (Postmark) an executemany."""
        at = at or utcnow()
        by_state: dict[tuple, dict[str | None, list[int]]] = {}
        for (status_, message_id, error), ids in groups.items():
            by_state.setdefault((status_, error), {}).setdefault(message_id, []).extend(ids)
        mine = and_(deliveries.c.day == day, deliveries.c.batch_id == batch_id, deliveries.c.status == INFLIGHT)
        with self.engine.begin() as conn:
            for (status_, error), by_message in by_state.items():
                ids = [i for members in by_message.values() for i in members]
                where = (
                    mine
                    if len(by_state) == 1
                    else and_(mine, deliveries.c.subscriber_id.in_(bindparam("ids", ids, expanding=True)))
                )
                values = {"status": status_, "error": error, "updated_at": at}
                if len(by_message) == 1:
                    values["provider_message_id"] = next(iter(by_message))
                conn.execute(update(deliveries).where(where).values(**values))
                if len(by_message) > 1:  # one id per message (Postmark, Resend): a second, narrow pass
                    conn.execute(
                        update(deliveries)
                        .where(
                            deliveries.c.day == day,
                            deliveries.c.batch_id == batch_id,
                            deliveries.c.subscriber_id == bindparam("sid"),
                        )
                        .values(provider_message_id=bindparam("mid")),
                        [{"sid": i, "mid": m} for m, members in by_message.items() for i in members],
                    )

    def release(self, day: date, batch_id: str, *, restore_to: str | None = None) -> int:
        """Give back a claimed batch that was never sent (bad credentials, a stop during a back-off). Fresh
        claims are deleted, so those subscribers are owed again; rows reclaimed from failed or unknown go
        back to that state."""
        where = and_(deliveries.c.day == day, deliveries.c.batch_id == batch_id, deliveries.c.status == INFLIGHT)
        with self.engine.begin() as conn:
            if restore_to is None:
                return conn.execute(deliveries.delete().where(where)).rowcount
            return conn.execute(
                update(deliveries)
                .where(where)
                .values(status=restore_to, error="not sent: the send stopped before this batch", updated_at=utcnow())
            ).rowcount

    def mark_inflight_unknown(self, day: date | None = None) -> int:
        """INFLIGHT → UNKNOWN: rows left by a sender that died; we cannot know whether the provider took them."""
        stmt = update(deliveries).where(deliveries.c.status == INFLIGHT)
        if day is not None:
            stmt = stmt.where(deliveries.c.day == day)
        # updated_at is left at the claim time: it says when the request may have gone out (an idempotency key
        # is only remembered for a while, see sender.IDEMPOTENCY_WINDOW).
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(status=UNKNOWN, error="in flight when the sender stopped")).rowcount

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
