"""A subscriber's own pause postpones their parts: they resume where they left off, one part a day.

Two more delivery states carry it (the transitions of deliveries.py continue from READY):

    a day's send, subscriber paused ─────────────▶ POSTPONED ──(a later send time, not paused)──▶ READY
    a day's send, subscriber behind (has POSTPONED) ─▶ POSTPONED      READY ──reclaim()──▶ INFLIGHT ─▶ SENT …

- `postpone(day)`, at the start of a day's send: everyone in the send's audience who has no row for the day
  yet and is either paused or already behind gets a POSTPONED row for it (so the day's own send skips them),
  and each of them who is behind and not paused has their *earliest* POSTPONED day made READY: that is the
  one part they get at this send time, instead of today's. The new rows make it idempotent: a send time tried
  again (a restart, a retry within the grace window) finds them and advances nobody twice.
- `advance_tail(key)`, at a send time after the series' last day: the same advance, made idempotent by a
  marker row in `state` written in the same transaction.
- READY rows are then sent like any row reclaimed from a state (`reclaim(from_states=[READY])`).
A subscriber's own pause never skips a part unless the organiser sets `personal_pause: skip`.

`from_start=True` (`late_joiners: from_start`): the same position, from a reader's first send time — a reader
who joined after day 1 went out is first given POSTPONED rows for the days before (positions.py `start`), in
the same transaction, and from then on is simply behind. Who is owed the day is then "joined by this send"
(`max(cutoff, at)`), so a reader west of the campaign's zone who joins after its send time but before their
own starts at their own send time that day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Date, and_, bindparam, exists, func, literal, or_, select, update
from sqlalchemy.orm import aliased

from campaign.clock import utcnow
from campaign.ledger import positions
from campaign.ledger.schema import Tables, UTCDateTime, deliveries, state, subscribers
from campaign.ledger.states import ACTIVE, POSTPONED, READY
from campaign.ledger.subscribers import Audience, audience_where

BEHIND_STATES = (POSTPONED, READY)
GAP_SLACK = timedelta(hours=12)  # days_between: a part sent late in its send time still counts as that day's
ID_CHUNK = 5000  # subscriber ids per IN list (SQLite's limit on bound parameters is 32766)


def _paused(at: datetime):
    return and_(subscribers.c.paused_until.is_not(None), subscribers.c.paused_until > at)


# `days` (the series' days) is in every query below: the ledger's indexes lead with the day, so a look-up
# by state or by subscriber is an index range per day rather than a scan of the whole ledger.


def _behind(days: Sequence[date]):
    """Subscribers with a part postponed or ready: a small set, read once through the (day, status) index."""
    behind = select(deliveries.c.subscriber_id).where(
        deliveries.c.day.in_(list(days)), deliveries.c.status.in_(list(BEHIND_STATES))
    )
    return subscribers.c.id.in_(behind)


def _has_ready(days: Sequence[date]):
    mine = aliased(deliveries)
    return exists().where(
        mine.c.day.in_(list(days)), mine.c.subscriber_id == deliveries.c.subscriber_id, mine.c.status == READY
    )


def _had_part_since(days: Sequence[date], since: datetime):
    """The reader has had a part (any row past POSTPONED) updated after `since`."""
    mine = aliased(deliveries)
    return exists().where(
        mine.c.day.in_(list(days)),
        mine.c.subscriber_id == subscribers.c.id,
        mine.c.status != POSTPONED,
        mine.c.updated_at > since,
    )


class PostponedLedger(Tables):
    def postpone(
        self,
        day: date,
        cutoff: datetime,
        *,
        days: Sequence[date],
        at: datetime,
        audience: Audience | None = None,
        from_start: bool = False,
    ) -> int:
        """At the start of `day`'s send: POSTPONED rows for the paused and the behind (with `from_start`, late
        joiners first become behind); the earliest part of each one behind and not paused becomes READY.
        Returns how many parts became READY."""
        if from_start:
            cutoff = max(cutoff, at)
        who = (
            select(
                bindparam("day", day, type_=Date).label("day"),
                subscribers.c.id.label("subscriber_id"),
                literal(POSTPONED.value).label("status"),
                literal(0).label("attempts"),
                bindparam("at", at, type_=UTCDateTime).label("updated_at"),
            )
            .where(subscribers.c.status == ACTIVE, subscribers.c.joined_at <= cutoff)
            .where(or_(_paused(at), _behind(days)))
            .where(~exists().where(deliveries.c.day == day, deliveries.c.subscriber_id == subscribers.c.id))
        )
        if audience is not None:
            who = who.where(audience_where(audience))
        insert = (
            self.insert(deliveries)
            .from_select(["day", "subscriber_id", "status", "attempts", "updated_at"], who)
            .on_conflict_do_nothing()
            .returning(deliveries.c.subscriber_id)
        )
        with self.engine.begin() as conn:
            if from_start:
                positions.start(conn, self.insert, before=day, joined_by=cutoff, days=days, at=at, audience=audience)
            added = list(conn.execute(insert).scalars())
            if not added:
                return 0
            awake = [
                i
                for chunk in _chunks(added)
                for i in conn.execute(
                    select(subscribers.c.id).where(subscribers.c.id.in_(chunk), ~_paused(at))
                ).scalars()
            ]
            return self._advance(conn, awake, days, at)

    def advance_tail(
        self,
        key: str,
        *,
        days: Sequence[date],
        at: datetime,
        audience: Audience | None = None,
        from_start: bool = False,
        days_between: int = 1,
        extend: bool = False,
    ) -> int:
        """At a send time after the series' last day: each subscriber still behind and not paused has their
        earliest POSTPONED part made READY — once per send time (`key`), however often it is tried. With
        `from_start`, readers who joined since and are still waiting start here, at part 1. `days_between`
        > 1 (start: on_join): only readers whose last part is at least that many days old. `extend` (on_join):
        readers who started before parts were added are given those parts first (positions.py `extend`)."""
        marker = (
            self.insert(state)
            .values(key=f"tail:{key}"[:80], value=json.dumps({"at": at.isoformat()}), updated_at=utcnow())
            .on_conflict_do_nothing()
            .returning(state.c.key)
        )
        query = select(subscribers.c.id).where(subscribers.c.status == ACTIVE, ~_paused(at), _behind(days))
        if audience is not None:
            query = query.where(audience_where(audience))
        with self.engine.begin() as conn:
            if conn.execute(marker).first() is None:
                return 0
            if from_start:
                positions.start(conn, self.insert, before=None, joined_by=at, days=days, at=at, audience=audience)
            if extend:
                positions.extend(conn, self.insert, days=days, at=at, audience=audience)
            if days_between > 1:
                query = query.where(~_had_part_since(days, at - timedelta(days=days_between) + GAP_SLACK))
            return self._advance(conn, list(conn.execute(query).scalars()), days, at)

    def _advance(self, conn, subscriber_ids: Sequence[int], days: Sequence[date], at: datetime) -> int:
        """POSTPONED → READY for each subscriber's earliest postponed day, unless a READY part already waits."""
        earliest = aliased(deliveries)
        first_day = (
            select(func.min(earliest.c.day))
            .where(earliest.c.day.in_(list(days)), earliest.c.subscriber_id == deliveries.c.subscriber_id)
            .where(earliest.c.status == POSTPONED)
            .scalar_subquery()
        )
        moved = 0
        for chunk in _chunks(subscriber_ids):
            moved += len(
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.day.in_(list(days)), deliveries.c.subscriber_id.in_(chunk))
                    .where(deliveries.c.status == POSTPONED, deliveries.c.day == first_day, ~_has_ready(days))
                    .values(status=READY, updated_at=at)
                    .returning(deliveries.c.id)
                ).all()
            )
        return moved

    # -- reading -----------------------------------------------------------------------------------
    def ready_days(self, days: Sequence[date], audience: Audience | None = None) -> list[date]:
        """Days with READY parts for (still active) subscribers of this audience, earliest first."""
        query = (
            select(deliveries.c.day)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day.in_(list(days)), deliveries.c.status == READY, subscribers.c.status == ACTIVE)
            .distinct()
            .order_by(deliveries.c.day)
        )
        if audience is not None:
            query = query.where(audience_where(audience))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def count_behind(
        self,
        days: Sequence[date],
        *,
        at: datetime,
        audience: Audience | None = None,
        ready_only: bool = False,
        from_start: bool = False,
    ) -> int:
        """Active subscribers of this audience with parts postponed (not paused at `at`), or only those with a
        READY part waiting; with `from_start` (and not `ready_only`), plus the readers waiting to start.
        `days` are the series' days: the query reads the (day, status) index per day."""
        waiting = 0
        if from_start and not ready_only:
            query = select(func.count()).where(positions.waiting(days, at), ~_paused(at))
            if audience is not None:
                query = query.where(audience_where(audience))
            with self.engine.connect() as conn:
                waiting = conn.execute(query).scalar_one()
        rows = (
            select(deliveries.c.subscriber_id)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day.in_(list(days)), subscribers.c.status == ACTIVE)
            .where(deliveries.c.status == READY if ready_only else deliveries.c.status.in_(list(BEHIND_STATES)))
        )
        if not ready_only:
            rows = rows.where(~_paused(at))
        if audience is not None:
            rows = rows.where(audience_where(audience))
        with self.engine.connect() as conn:
            return waiting + conn.execute(select(func.count()).select_from(rows.distinct().subquery())).scalar_one()

    def most_behind(self, days: Sequence[date]) -> int:
        """The most parts any active subscriber still has postponed (how many send times the series needs
        after its last day)."""
        per_subscriber = (
            select(func.count().label("n"))
            .select_from(deliveries.join(subscribers, subscribers.c.id == deliveries.c.subscriber_id))
            .where(deliveries.c.day.in_(list(days)), deliveries.c.status.in_(list(BEHIND_STATES)))
            .where(subscribers.c.status == ACTIVE)
            .group_by(deliveries.c.subscriber_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(per_subscriber.c.n), 0))).scalar_one()

    def behind_summary(self, days: Sequence[date]) -> tuple[int, int]:
        """(readers, parts): active subscribers with parts postponed or ready, and how many parts in all."""
        rows = (
            select(deliveries.c.subscriber_id)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day.in_(list(days)), deliveries.c.status.in_(list(BEHIND_STATES)))
            .where(subscribers.c.status == ACTIVE)
            .subquery()
        )
        with self.engine.connect() as conn:
            readers, parts = conn.execute(
                select(func.count(func.distinct(rows.c.subscriber_id)), func.count()).select_from(rows)
            ).one()
        return readers, parts

    def tail_done(self, key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(state.c.key).where(state.c.key == f"tail:{key}"[:80])).first() is not None


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + ID_CHUNK]) for i in range(0, len(ids), ID_CHUNK)]
