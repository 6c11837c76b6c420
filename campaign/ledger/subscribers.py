"""Subscribers: look-ups, the confirmed sign-up, pausing, and *the* one suppress.

A subscriber leaves the list only through `suppress()` (unsubscribed, bounced or complained), which is
sticky and keeps the first reason; `set_status()` refuses those states. A suppressed address comes back only
through a confirmed sign-up requested after it left.

`Audience` is the plain value the timing layer uses to narrow who a send goes to (a group of time zones);
`audience_where()` turns it into the WHERE clause, so no SQL leaves the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from campaign.clock import utcnow
from campaign.ledger.schema import Tables, events, signups, subscribers
from campaign.ledger.states import ACTIVE, PENDING, SUPPRESSED


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    country: str | None
    timezone: str | None
    status: str
    joined_at: datetime


@dataclass(frozen=True)
class Audience:
    """Who a slot sends to, as a value: subscribers whose time zone is one of `zones`, plus — when
    `others` — those without a zone or with one outside `known_zones`; only those who joined by `joined_by`
    when it is set (a slot earlier than the campaign's send time narrows the owed cutoff to its own instant)."""

    zones: frozenset[str] = frozenset()
    others: bool = False
    known_zones: frozenset[str] = frozenset()
    joined_by: datetime | None = None


def audience_where(audience: Audience):
    """The WHERE clause on subscribers for an `Audience`."""
    who = [subscribers.c.timezone.in_(sorted(audience.zones))]
    if audience.others:
        who += [subscribers.c.timezone.is_(None), subscribers.c.timezone.notin_(sorted(audience.known_zones))]
    condition = or_(*who)
    if audience.joined_by is not None:
        condition = and_(condition, subscribers.c.joined_at <= audience.joined_by)
    return condition


def row_to_subscriber(row) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, row.country, row.timezone, row.status, row.joined_at)


class SubscriberQueries(Tables):
    def subscriber_by_email(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.email == email.strip().lower())).first()
        return row_to_subscriber(row) if row else None

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return row_to_subscriber(row) if row else None

    def list_subscribers(self, status: str | None = None) -> Iterator[Subscriber]:
        query = select(subscribers).order_by(subscribers.c.id)
        if status:
            query = query.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield row_to_subscriber(row)

    def count_subscribers(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscribers.c.status, func.count()).group_by(subscribers.c.status))
            return {status: n for status, n in rows}

    def subscriber_timezones(self) -> set[str]:
        """The distinct time-zone names of active subscribers (as stored: not checked here)."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(subscribers.c.timezone)
                    .distinct()
                    .where(subscribers.c.status == ACTIVE, subscribers.c.timezone.is_not(None))
                ).scalars()
            )

    def set_status(
        self, subscriber_id: int, status: str, reason: str, *, at: datetime | None = None, only_if_active: bool = False
    ) -> bool:
        """Change a subscriber's state between pending and active. A suppressed subscriber never becomes active
        again through this call (re-subscription goes through a confirmed sign-up), and suppressing goes
        through `suppress()` — this call refuses those states."""
        if status in SUPPRESSED:
            raise ValueError(f"set_status() does not suppress: use suppress(id, {status!r}, reason)")
        at = at or utcnow()
        where = subscribers.c.id == subscriber_id
        if status == ACTIVE:
            where = and_(where, subscribers.c.status.notin_(SUPPRESSED))
        if only_if_active:
            where = and_(where, subscribers.c.status == ACTIVE)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(subscribers).where(where).values(status=status, status_reason=reason, status_changed_at=at)
            )
        return result.rowcount > 0

    def suppress(self, subscriber_id: int, status: str, reason: str, *, at: datetime | None = None) -> bool:
        """Stop all mail to a subscriber (unsubscribed, bounced or complained). Idempotent: an address already
        suppressed keeps its first status and reason. True when this call changed something."""
        if status not in SUPPRESSED:
            raise ValueError(f"suppress() takes one of {tuple(map(str, SUPPRESSED))}, not {status!r}")
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == subscriber_id, subscribers.c.status.notin_(SUPPRESSED))
                    .values(status=status, status_reason=reason[:500], status_changed_at=at or utcnow())
                ).rowcount
                > 0
            )

    def pause_subscriber(self, subscriber_id: int, until: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(paused_until=until))

    # -- the confirmed sign-up (double opt-in) --------------------------------------------------------
    def request_signup(
        self,
        email: str,
        *,
        name: str | None,
        country: str | None,
        at: datetime,
        min_interval: timedelta,
        timezone: str | None = None,
        consent_version: str | None = None,
    ) -> tuple[Subscriber, bool]:
        """Record a sign-up request. A new address becomes a *pending* subscriber (sent nothing but the
        confirmation email); an existing one keeps its status and name until the link is followed. A pending or
        suppressed one takes the form's country and time zone now (it is sent nothing but the confirmation, so
        the latest form wins); an active one is never changed by the public form.
        Returns the subscriber and whether to send a confirmation now: never to an active subscriber, and at
        most once per `min_interval` per address (the form is public)."""
        email = email.strip().lower()
        with self.engine.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.email == email, subscribers.c.status != ACTIVE)
                .values(country=country, timezone=timezone, consent_at=at, consent_version=consent_version)
            )
            conn.execute(
                self.insert(subscribers)
                .values(
                    email=email,
                    name=name,
                    country=country,
                    timezone=timezone,
                    status=PENDING,
                    joined_at=at,
                    status_changed_at=at,
                    status_reason="signed up, awaiting confirmation",
                    source="signup",
                    consent_at=at,  # consent on record (Art. 7(1)): when, and which wording
                    consent_version=consent_version,
                )
                .on_conflict_do_nothing()
            )
            row = conn.execute(select(subscribers).where(subscribers.c.email == email)).one()
            if row.status == ACTIVE:
                return row_to_subscriber(row), False
            # One statement decides, so two requests at once cannot both send: the row is written only when
            # there is none, or when the last request is older than the interval.
            upsert = self.insert(signups).values(subscriber_id=row.id, requested_at=at)
            upsert = upsert.on_conflict_do_update(
                index_elements=[signups.c.subscriber_id],
                set_={"requested_at": upsert.excluded.requested_at},
                where=signups.c.requested_at <= at - min_interval,
            ).returning(signups.c.subscriber_id)
            if conn.execute(upsert).first() is None:
                return row_to_subscriber(row), False
        return row_to_subscriber(row), True

    def signups_to_remind(self, *, requested_before: datetime, requested_after: datetime, limit: int = 500) -> list:
        """Sign-ups still awaiting confirmation, requested in (`requested_after`, `requested_before`], whose
        subscriber was never sent a reminder (an event of kind "confirmation_reminder"): one reminder, ever."""
        reminded = (
            select(events.c.id)
            .where(events.c.subscriber_id == subscribers.c.id, events.c.kind == "confirmation_reminder")
            .exists()
        )
        awaiting = or_(
            subscribers.c.status == PENDING,
            and_(
                subscribers.c.status.in_(SUPPRESSED),
                or_(
                    subscribers.c.status_changed_at.is_(None), signups.c.requested_at > subscribers.c.status_changed_at
                ),
            ),
        )
        query = (
            select(subscribers)
            .select_from(subscribers.join(signups, signups.c.subscriber_id == subscribers.c.id))
            .where(signups.c.requested_at <= requested_before, signups.c.requested_at > requested_after)
            .where(awaiting, ~reminded)
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [row_to_subscriber(row) for row in conn.execute(query)]

    def confirm_signup(self, subscriber_id: int, *, at: datetime) -> str:
        """Follow a confirmation link: "activated" (joined now: owed the issues sent from now on), "already"
        (active), or "stale" — nothing awaits confirmation, e.g. the address left after the link was sent."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(subscribers.c.status, subscribers.c.status_changed_at, signups.c.requested_at)
                .select_from(subscribers.outerjoin(signups, signups.c.subscriber_id == subscribers.c.id))
                .where(subscribers.c.id == subscriber_id)
            ).first()
            if row is None:
                return "stale"
            if row.status == ACTIVE:
                return "already"
            came_back = (
                row.status in SUPPRESSED
                and row.requested_at is not None
                and (row.status_changed_at is None or row.requested_at > row.status_changed_at)
            )
            if row.status != PENDING and not came_back:
                return "stale"
            changed = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, subscribers.c.status == row.status)
                .values(
                    status=ACTIVE,
                    joined_at=at,
                    confirmed_at=at,
                    status_changed_at=at,
                    paused_until=None,
                    status_reason="confirmed sign-up",
                )
            ).rowcount
            conn.execute(signups.delete().where(signups.c.subscriber_id == subscriber_id))
            if not changed:  # a concurrent click of the same link got there first
                now_status = conn.execute(
                    select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
                ).scalar_one_or_none()
                return "already" if now_status == ACTIVE else "stale"
        return "activated"
