"""Where each reader is in the series: one notion, kept by the deliveries ledger.

A reader's position is their delivery rows: SENT (and the other end states) for the parts they had, and
POSTPONED / READY for the parts they are owed *later* than the calendar — the mechanism of a reader's own
pause (postponed.py). `late_joiners: from_start` uses that same mechanism and nothing else: a reader who
becomes active after day 1 went out is given a POSTPONED row for every day sent before they joined (`start`,
in the transaction of the send time that first owes them a part), so they are simply *behind* — the send
time makes their earliest part READY, one a day, in order, past the last day if needed, exactly as for a
reader back from a pause. A reader is "waiting" while they have no row for the first day yet.

The readings below (`part_counts`, `reader_parts`, `last_part_date`) are what `campaign status` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import exists, func, literal_column, select

from campaign.ledger.schema import Tables, deliveries, issues, subscribers
from campaign.ledger.states import ACTIVE, POSTPONED, READY, SENT
from campaign.ledger.subscribers import Audience, audience_where

ROW_CHUNK = 2000  # rows per INSERT of the start of a late joiner


def _has_row(day: date):
    return exists().where(deliveries.c.day == day, deliveries.c.subscriber_id == subscribers.c.id)


def waiting(days: Sequence[date], joined_by: datetime | None):
    """Active readers who joined by `joined_by` (None: whenever, pre-registrations too) and have no row for the
    series' first day: from_start readers not started yet (after the first day's send, everyone else has one)."""
    if not days:
        return subscribers.c.id.is_(None)
    # Whoever joined before the first day began anywhere (UTC+14) was owed it: read no index for them.
    before_any = datetime.combine(min(days) - timedelta(days=1), time(0), tzinfo=UTC)
    condition = (subscribers.c.status == ACTIVE) & (subscribers.c.joined_at > before_any) & ~_has_row(min(days))
    return condition if joined_by is None else condition & (subscribers.c.joined_at <= joined_by)


def start(
    conn,
    insert,
    *,
    before: date | None,
    joined_by: datetime,
    days: Sequence[date],
    at: datetime,
    audience: Audience | None = None,
) -> int:
    """From the start: every reader of `audience` waiting at a send time (of day `before`, or after the last
    day: None) gets a POSTPONED row for each day of the series before it — the parts they missed by joining
    late — so the send time treats them as behind. In the caller's transaction; returns how many readers.
    A later day already started (sent out of order before this one) is among the missed: it is never sent
    to them otherwise."""
    started = set(
        conn.execute(select(issues.c.day).where(issues.c.day.in_(list(days)), issues.c.first_sent_at.is_not(None)))
        .scalars()
        .all()
    )
    earlier = sorted(d for d in days if before is None or d < before or (d in started and d != before))
    if not earlier:
        return 0
    who = select(subscribers.c.id).where(waiting(days, joined_by))
    if before is not None:
        who = who.where(~_has_row(before))
    return _postpone_for(conn, insert, who, earlier, at, audience)


def _postpone_for(conn, insert, who, days: Sequence[date], at: datetime, audience: Audience | None) -> int:
    """A POSTPONED row for each of `days` for every reader `who` selects (of `audience`) that has none yet;
    in chunks, in the caller's transaction. Returns how many readers."""
    if audience is not None:
        who = who.where(audience_where(audience))
    ids = list(conn.execute(who).scalars())
    rows = [
        {"day": d, "subscriber_id": i, "status": POSTPONED.value, "attempts": 0, "updated_at": at}
        for i in ids
        for d in days
    ]
    for offset in range(0, len(rows), ROW_CHUNK):
        conn.execute(insert(deliveries).on_conflict_do_nothing(), rows[offset : offset + ROW_CHUNK])
    return len(ids)


def extend(conn, insert, *, days: Sequence[date], at: datetime, audience: Audience | None = None) -> int:
    """start: on_join — parts added since a reader started (a longer article, more parts): every reader with a
    row for part 1 and none for the last part gets a POSTPONED row for each part they lack, so they are behind
    again and get the new parts in order, like any reader behind. In the caller's transaction; how many readers."""
    if len(days) < 2:
        return 0
    who = select(subscribers.c.id).where(subscribers.c.status == ACTIVE, _has_row(min(days)), ~_has_row(max(days)))
    return _postpone_for(conn, insert, who, days, at, audience)


@dataclass(frozen=True)
class ReaderPart:
    number: int
    day: date
    status: str  # a DeliveryStatus, or "owed" when the reader has no row for it yet
    updated_at: datetime | None


class Positions(Tables):
    def count_waiting(self, days: Sequence[date], *, joined_after: datetime, joined_by: datetime) -> int:
        """from_start readers who joined after the first day's send time (by `joined_by`), not started yet."""
        query = select(func.count()).where(waiting(days, joined_by), subscribers.c.joined_at > joined_after)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def last_waiting_join(self, days: Sequence[date], *, joined_after: datetime) -> datetime | None:
        """When the last from_start reader not started yet joins (or joined) — pre-registrations included —
        among those who join after the first day's send time; None when nobody waits."""
        query = select(func.max(subscribers.c.joined_at)).where(
            waiting(days, None), subscribers.c.joined_at > joined_after
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def waiting_joins(self, days: Sequence[date]) -> tuple[datetime | None, datetime | None]:
        """(first, last) join of the readers not started yet, pre-registrations included (start: on_join)."""
        query = select(func.min(subscribers.c.joined_at), func.max(subscribers.c.joined_at)).where(waiting(days, None))
        with self.engine.connect() as conn:
            first, last = conn.execute(query).one()
        return first, last

    def next_parts(self, days: Sequence[date]) -> set[date]:
        """The parts that are some active reader's next (their earliest postponed or ready one)."""
        query = (
            select(func.min(deliveries.c.day))
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.day.in_(list(days)), deliveries.c.status.in_([POSTPONED, READY]))
            .where(subscribers.c.status == ACTIVE)
            .group_by(deliveries.c.subscriber_id)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def part_counts(self, days: Sequence[date]) -> dict[int, int]:
        """Active readers by the number of parts they have had (sent): {parts had: readers}."""
        had = (
            select(deliveries.c.subscriber_id, func.count().label("n"))
            .where(deliveries.c.day.in_(list(days)), deliveries.c.status == SENT)
            .group_by(deliveries.c.subscriber_id)
            .subquery()
        )
        parts = func.coalesce(had.c.n, literal_column("0"))  # no bound parameter: PostgreSQL matches the GROUP BY
        query = (
            select(parts, func.count())
            .select_from(subscribers.outerjoin(had, had.c.subscriber_id == subscribers.c.id))
            .where(subscribers.c.status == ACTIVE)
            .group_by(parts)
        )
        with self.engine.connect() as conn:
            return {int(n): int(readers) for n, readers in conn.execute(query)}

    def reader_rows(self, subscriber_id: int, days: Sequence[date]) -> dict[date, tuple[str, datetime]]:
        """One reader's ledger rows over the series: {day: (status, updated_at)}."""
        query = select(deliveries.c.day, deliveries.c.status, deliveries.c.updated_at).where(
            deliveries.c.subscriber_id == subscriber_id, deliveries.c.day.in_(list(days))
        )
        with self.engine.connect() as conn:
            return {r.day: (r.status, r.updated_at) for r in conn.execute(query)}
