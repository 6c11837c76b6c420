"""Welcome emails for late joiners: one row per subscriber, claimed before the send (`WelcomeStatus`).

(none) ── claim_welcome() ──▶ INFLIGHT ── record_welcome() ──▶ SENT | FAILED
                                 ▲                                  │
                                 └──── claim_welcome() ─────────────┘  (FAILED with attempts left)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, literal, or_, select, update

from campaign.ledger.schema import WELCOME_ATTEMPTS, Tables, UTCDateTime, deliveries, subscribers, welcomes
from campaign.ledger.states import ACTIVE, WelcomeStatus


class Welcomes(Tables):
    def late_joiners(self, joined_after: datetime, *, at: datetime, limit: int = 500) -> list:
        """Active subscribers who joined after `joined_after`, are not paused at `at`, and are still owed
        their welcome (none yet, or a failed one with attempts left)."""
        query = (
            select(
                subscribers.c.id,
                subscribers.c.email,
                subscribers.c.name,
                subscribers.c.country,
                subscribers.c.timezone,
                subscribers.c.joined_at,
            )
            .select_from(subscribers.outerjoin(welcomes, welcomes.c.subscriber_id == subscribers.c.id))
            .where(subscribers.c.status == ACTIVE, subscribers.c.joined_at > joined_after)
            .where(subscribers.c.joined_at <= at)  # a pre-registration (joined_at ahead) joins at that moment
            .where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
            .where(
                or_(
                    welcomes.c.subscriber_id.is_(None),
                    and_(welcomes.c.status == WelcomeStatus.FAILED, welcomes.c.attempts < WELCOME_ATTEMPTS),
                )
            )
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def claim_welcome(self, subscriber_id: int, *, at: datetime) -> bool:
        """Claim a welcome before sending it (re-checking the subscriber is active in the same statement).
        False when it was sent, is in flight elsewhere, or has used up its attempts."""
        source = select(
            subscribers.c.id, literal(WelcomeStatus.INFLIGHT.value), literal(1), literal(at, UTCDateTime)
        ).where(subscribers.c.id == subscriber_id, subscribers.c.status == ACTIVE)
        insert = (
            self.insert(welcomes)
            .from_select(["subscriber_id", "status", "attempts", "updated_at"], source)
            .on_conflict_do_nothing()
            .returning(welcomes.c.subscriber_id)
        )
        with self.engine.begin() as conn:
            if conn.execute(insert).first() is not None:
                return True
            return (
                conn.execute(
                    update(welcomes)
                    .where(
                        welcomes.c.subscriber_id == subscriber_id,
                        welcomes.c.status == WelcomeStatus.FAILED,
                        welcomes.c.attempts < WELCOME_ATTEMPTS,
                    )
                    .values(status=WelcomeStatus.INFLIGHT, attempts=welcomes.c.attempts + 1, error=None, updated_at=at)
                ).rowcount
                > 0
            )

    def record_welcome(
        self, subscriber_id: int, *, sent: bool, message_id: str | None = None, error: str | None = None, at: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(welcomes)
                .where(welcomes.c.subscriber_id == subscriber_id, welcomes.c.status == WelcomeStatus.INFLIGHT)
                .values(
                    status=WelcomeStatus.SENT if sent else WelcomeStatus.FAILED,
                    provider_message_id=message_id,
                    error=error,
                    updated_at=at,
                )
            )

    def welcome_status(self, subscriber_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(welcomes.c.status).where(welcomes.c.subscriber_id == subscriber_id)
            ).scalar_one_or_none()

    def skip_welcome(self, subscriber_id: int, reason: str, *, at: datetime) -> None:
        """Record that this late joiner is not welcomed (a part reaches them first); never overrides a welcome
        already sent or in flight."""
        upsert = self.insert(welcomes).values(
            subscriber_id=subscriber_id, status=WelcomeStatus.SKIPPED, attempts=0, error=reason[:500], updated_at=at
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[welcomes.c.subscriber_id],
            set_={"status": WelcomeStatus.SKIPPED, "error": reason[:500], "updated_at": at},
            where=welcomes.c.status == WelcomeStatus.FAILED,
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def received_parts(self, subscriber_ids: list[int]) -> set[int]:
        """Which of these subscribers already have a delivery row (a part sent, or on its way)."""
        if not subscriber_ids:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.subscriber_id).where(deliveries.c.subscriber_id.in_(subscriber_ids)).distinct()
            )
            return {row.subscriber_id for row in rows}
