"""A reader's own preferences (the preferences page): country, time zone, format, pause — effective for the
next send, even when that day is already queued.

A day's send queues its readers with their queue variant (crisis variant, plus "+text" for plain text:
schema.variant_key). So a change moves the reader's QUEUED rows in the same transaction:

    country / format changed ─▶ their QUEUED rows take the new variant (the claim sends that render)
    paused ──────────────────▶ their QUEUED rows become POSTPONED (personal_pause: postpone: owed later,
                               postponed.py makes them READY once the pause is over) or are deleted (skip:
                               as if the reader had been paused when the day was queued)

A row already claimed (INFLIGHT) is on its way and is not touched. The claim itself re-checks the pause
(queue.py), and `hold_paused` settles the rows of a pause made while a claim ran, once the queue drains.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, select, update

from campaign.ledger.schema import Tables, deliveries, subscribers
from campaign.ledger.states import ACTIVE, PENDING, POSTPONED, QUEUED


class Preferences(Tables):
    def subscriber_format(self, subscriber_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(subscribers.c.format).where(subscribers.c.id == subscriber_id)).scalar()

    def set_preferences(
        self,
        subscriber_id: int,
        *,
        country: str | None,
        timezone: str | None,
        format_: str | None,
        queue_variant: str,
        at: datetime,
    ) -> bool:
        """Store an active or pending reader's country, time zone and format, and move their queued rows to
        `queue_variant` (what the new country and format make them). False when nothing was changed (the
        reader has left)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, subscribers.c.status.in_([ACTIVE, PENDING]))
                .values(country=country, timezone=timezone, format=format_)
            ).rowcount
            if changed:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.subscriber_id == subscriber_id, deliveries.c.status == QUEUED)
                    .values(variant=queue_variant, updated_at=at)
                )
        return changed > 0

    def pause_and_hold(self, subscriber_id: int, until: datetime, *, postpone: bool, at: datetime) -> int:
        """Pause a reader until `until` and hold the days already queued for them (postponed, or dropped with
        `personal_pause: skip`); returns how many queued rows were held."""
        with self.engine.begin() as conn:
            conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(paused_until=until))
            mine = and_(deliveries.c.subscriber_id == subscriber_id, deliveries.c.status == QUEUED)
            if postpone:
                return conn.execute(
                    update(deliveries).where(mine).values(status=POSTPONED, batch_id=None, updated_at=at)
                ).rowcount
            return conn.execute(deliveries.delete().where(mine)).rowcount

    def hold_paused(self, day: date, *, at: datetime, postpone: bool) -> int:
        """The day's queued rows of readers paused at `at` (a pause made while a claim ran): postponed (or
        dropped with skip). Called once the day's queue is drained, when the rows left are few."""
        paused = select(subscribers.c.id).where(
            subscribers.c.paused_until.is_not(None), subscribers.c.paused_until > at
        )
        mine = and_(deliveries.c.day == day, deliveries.c.status == QUEUED, deliveries.c.subscriber_id.in_(paused))
        with self.engine.begin() as conn:
            if postpone:
                return conn.execute(
                    update(deliveries).where(mine).values(status=POSTPONED, batch_id=None, updated_at=at)
                ).rowcount
            return conn.execute(deliveries.delete().where(mine)).rowcount
