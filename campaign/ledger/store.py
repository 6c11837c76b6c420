"""Storage: SQLAlchemy Core tables and the queries the rest of the package needs.

SQLite by default (`CAMPAIGN_DATABASE_URL`), with nothing SQLite-only in the schema, so the same code runs on
PostgreSQL. The deliveries table is the ledger: one row per (issue day, subscriber), unique — it alone
decides who is still owed an issue.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from campaign.clock import utcnow
from campaign.errors import LockHeld

# Subscriber states. Only ACTIVE subscribers are ever sent an issue.
PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED = "pending", "active", "unsubscribed", "bounced", "complained"
SUPPRESSED = (UNSUBSCRIBED, BOUNCED, COMPLAINED)

# Delivery states (the ledger).
INFLIGHT = "inflight"  # claimed by a sender, request under way
SENT = "sent"  # accepted by the provider
FAILED = "failed"  # transient failure past the retry bound: retried by `send --retry-failed`
REJECTED = "rejected"  # permanent failure for this recipient (bad address, inactive recipient)
UNKNOWN = "unknown"  # was in flight when a sender died: may or may not have gone out
DELIVERY_STATES = (INFLIGHT, SENT, FAILED, REJECTED, UNKNOWN)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised, lower case
    Column("name", String(200)),
    Column("country", String(2)),  # ISO 3166-1 alpha-2, upper case
    Column("timezone", String(64)),  # IANA name, for local-time delivery
    Column("status", String(16), nullable=False, default=ACTIVE),
    Column("status_reason", String(500)),
    Column("status_changed_at", UTCDateTime),
    Column("paused_until", UTCDateTime),  # "pause these emails for 7 days"
    Column("joined_at", UTCDateTime, nullable=False),  # owed issues whose send time is after this
    Column("source", String(16), nullable=False, default="import"),
)
Index("ix_subscribers_status_id", subscribers.c.status, subscribers.c.id)

issues = Table(
    "issues",
    metadata,
    Column("day", Date, primary_key=True),
    Column("number", Integer, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("web_html", Text),  # what the archive shows ("view in browser")
    Column("first_sent_at", UTCDateTime),
    Column("state", String(16)),  # sending | sent | missed | skipped
    Column("note", String(500)),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("batch_id", String(80)),
    Column("provider", String(16)),
    Column("provider_message_id", String(300)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("day", "subscriber_id", name="uq_deliveries_day_subscriber"),
)
Index("ix_deliveries_day_status", deliveries.c.day, deliveries.c.status)
Index("ix_deliveries_batch", deliveries.c.batch_id)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("kind", String(40), nullable=False),  # bounce, complaint, unsubscribe, ...
    Column("email", String(320)),
    Column("subscriber_id", Integer),
    Column("payload", Text, nullable=False),
)

state = Table(
    "state",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", UTCDateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("owner", String(200), nullable=False),  # host:pid
    Column("acquired_at", UTCDateTime, nullable=False),
)

# The latest confirmed-sign-up request per subscriber (double opt-in): when the confirmation email may be sent
# again, and whether a suppressed address asked to come back *after* it left (an old link cannot re-subscribe).
signups = Table(
    "signups",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("requested_at", UTCDateTime, nullable=False),
)

# Webhook tokens already accepted (Mailgun signs timestamp+token): a replayed request is refused.
webhook_tokens = Table(
    "webhook_tokens",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("token", String(200), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
)

# Welcome emails for late joiners (`late_joiners: welcome`): one row per subscriber, claimed before the send,
# so nobody is welcomed twice — not after a restart, not by a second process.
welcomes = Table(
    "welcomes",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("status", String(16), nullable=False),  # inflight | sent | failed
    Column("attempts", Integer, nullable=False, default=1),
    Column("provider_message_id", String(300)),
    Column("error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)
WELCOME_ATTEMPTS = 3  # a welcome that failed (transiently) is tried again, up to this many times in all


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    country: str | None
    timezone: str | None
    status: str
    joined_at: datetime


def _row_to_subscriber(row) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, row.country, row.timezone, row.status, row.joined_at)


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                # WAL: the web app and a sender can read while another process writes; busy_timeout waits
                # for a writer instead of failing at once.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        metadata.create_all(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    # -- subscribers --------------------------------------------------------------------------------
    def subscriber_by_email(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.email == email.strip().lower())).first()
        return _row_to_subscriber(row) if row else None

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        return _row_to_subscriber(row) if row else None

    def list_subscribers(self, status: str | None = None) -> Iterator[Subscriber]:
        query = select(subscribers).order_by(subscribers.c.id)
        if status:
            query = query.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield _row_to_subscriber(row)

    def count_subscribers(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscribers.c.status, func.count()).group_by(subscribers.c.status))
            return {status: n for status, n in rows}

    def set_status(
        self, subscriber_id: int, status: str, reason: str, *, at: datetime | None = None, only_if_active: bool = False
    ) -> bool:
        """Change a subscriber's state. Suppression is sticky: a suppressed subscriber never becomes active
        again through this call (re-subscription goes through a confirmed sign-up)."""
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

    def pause_subscriber(self, subscriber_id: int, until: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(paused_until=until))

    # -- the ledger ---------------------------------------------------------------------------------
    def owed_query(self, day: date, cutoff: datetime, *, at: datetime | None = None):
        """Active subscribers owed `day`: joined before its send time, not paused, no ledger row yet."""
        at = at or cutoff
        return (
            select(
                subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country, subscribers.c.timezone
            )
            .where(subscribers.c.status == ACTIVE)
            .where(subscribers.c.joined_at <= cutoff)
            .where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
            .where(not_(exists().where(and_(deliveries.c.day == day, deliveries.c.subscriber_id == subscribers.c.id))))
        )

    def owed_page(
        self, day: date, cutoff: datetime, *, after_id: int, limit: int, at: datetime | None = None, extra_where=None
    ) -> list:
        """The next page of owed subscribers, by id (keyset paging: memory stays flat on any list size)."""
        query = self.owed_query(day, cutoff, at=at).where(subscribers.c.id > after_id)
        if extra_where is not None:
            query = query.where(extra_where)
        query = query.order_by(subscribers.c.id).limit(limit)
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def count_owed(self, day: date, cutoff: datetime, *, at: datetime | None = None) -> int:
        query = select(func.count()).select_from(self.owed_query(day, cutoff, at=at).subquery())
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def claim(
        self, day: date, subscriber_ids: Sequence[int], *, batch_id: str, provider: str, at: datetime | None = None
    ) -> list[int]:
        """Mark a batch in flight *before* the request; returns the ids this call claimed.

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
            ids = list(subscriber_ids)
            inserted = conn.execute(
                _claim_statement(self.engine),
                {"day": day, "ids": ids, "batch_id": batch_id, "provider": provider, "at": at},
            ).rowcount
            if inserted == len(set(ids)):  # the usual case: all claimed, no need to read them back
                return sorted(set(ids))
            claimed = (
                conn.execute(select(deliveries.c.subscriber_id).where(deliveries.c.batch_id == batch_id))
                .scalars()
                .all()
            )
        return sorted(claimed)

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
        """Move existing rows (failed, or unknown on an explicit resend) back in flight under a new batch."""
        if not subscriber_ids:
            return []
        at = at or utcnow()
        with self.engine.begin() as conn:
            conn.execute(
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
            )
            claimed = (
                conn.execute(select(deliveries.c.subscriber_id).where(deliveries.c.batch_id == batch_id))
                .scalars()
                .all()
            )
        return sorted(claimed)

    def rows_in_state(self, day: date, status: str, *, after_id: int, limit: int) -> list:
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
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def record(self, day: date, results: Iterable[DeliveryOutcome], *, at: datetime | None = None) -> None:
        """Record a batch's outcome in one transaction (the checkpoint)."""
        at = at or utcnow()
        params = [
            {"d": day, "sid": r.subscriber_id, "st": r.status, "mid": r.message_id, "err": r.error, "at": at}
            for r in results
        ]
        if not params:
            return
        stmt = (
            update(deliveries)
            .where(deliveries.c.day == bindparam("d"), deliveries.c.subscriber_id == bindparam("sid"))
            .values(
                status=bindparam("st"),
                provider_message_id=bindparam("mid"),
                error=bindparam("err"),
                updated_at=bindparam("at"),
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt.execution_options(synchronize_session=False), params)

    def mark_inflight_unknown(self, day: date | None = None) -> int:
        """Rows left in flight by a sender that died: we cannot know whether the provider took them."""
        stmt = update(deliveries).where(deliveries.c.status == INFLIGHT)
        if day is not None:
            stmt = stmt.where(deliveries.c.day == day)
        # updated_at is left at the claim time: it says when the request may have gone out (an idempotency key
        # is only remembered for a while, see sender.IDEMPOTENCY_WINDOW).
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(status=UNKNOWN, error="in flight when the sender stopped")).rowcount

    # -- the ledger: per-batch checkpoints (the sender's hot path) ----------------------------------
    def record_batch(
        self,
        day: date,
        batch_id: str,
        groups: Mapping[tuple[str, str | None, str | None], Sequence[int]],
        *,
        at: datetime | None = None,
    ) -> None:
        """Checkpoint one batch in one transaction. `groups` maps (status, provider message id, error) to the
        subscriber ids with that outcome: a request accepted under one id (or failed for one reason) is a
        single UPDATE; per-message ids (Postmark) an executemany."""
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
                        .where(deliveries.c.day == day, deliveries.c.subscriber_id == bindparam("sid"))
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
            return conn.execute(query).all()

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
            return conn.execute(
                select(deliveries, subscribers.c.email)
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(deliveries.c.day == day)
                .order_by(deliveries.c.subscriber_id)
            ).all()

    # -- issues (archive) ---------------------------------------------------------------------------
    def save_issue(self, day: date, *, number: int, subject: str, web_html: str, at: datetime) -> None:
        """Archive the day's web version when its first delivery starts (what "view in browser" shows)."""
        with self.engine.begin() as conn:
            existing = conn.execute(select(issues.c.day).where(issues.c.day == day)).first()
            if existing:
                conn.execute(
                    update(issues)
                    .where(issues.c.day == day)
                    .values(number=number, subject=subject, web_html=web_html, state="sending")
                )
            else:
                conn.execute(
                    issues.insert().values(
                        day=day, number=number, subject=subject, web_html=web_html, first_sent_at=at, state="sending"
                    )
                )

    def set_issue_state(
        self, day: date, state_: str, note: str | None = None, *, number: int = 0, subject: str = ""
    ) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(issues.c.day).where(issues.c.day == day)).first():
                conn.execute(update(issues).where(issues.c.day == day).values(state=state_, note=note))
            else:
                conn.execute(issues.insert().values(day=day, number=number, subject=subject, state=state_, note=note))

    def issue_states(self) -> dict[date, Any]:
        with self.engine.connect() as conn:
            return {
                row.day: row
                for row in conn.execute(
                    select(
                        issues.c.day,
                        issues.c.number,
                        issues.c.subject,
                        issues.c.first_sent_at,
                        issues.c.state,
                        issues.c.note,
                    )
                )
            }

    def archived_issue(self, day: date):
        with self.engine.connect() as conn:
            return conn.execute(select(issues).where(issues.c.day == day, issues.c.web_html.is_not(None))).first()

    # -- events (webhooks) --------------------------------------------------------------------------
    def add_event(
        self,
        *,
        provider: str,
        kind: str,
        email: str | None,
        subscriber_id: int | None,
        payload: Any,
        at: datetime | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    received_at=at or utcnow(),
                    provider=provider,
                    kind=kind,
                    email=email,
                    subscriber_id=subscriber_id,
                    payload=json.dumps(payload, sort_keys=True, default=str),
                )
            )

    # -- key/value state (pause, scheduler bookkeeping) ---------------------------------------------
    def get_state(self, key: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(state.c.value).where(state.c.key == key)).first()
        return json.loads(row.value) if row else None

    def set_state(self, key: str, value: Any) -> None:
        payload = json.dumps(value, sort_keys=True, default=str)
        with self.engine.begin() as conn:
            if conn.execute(select(state.c.key).where(state.c.key == key)).first():
                conn.execute(update(state).where(state.c.key == key).values(value=payload, updated_at=utcnow()))
            else:
                conn.execute(state.insert().values(key=key, value=payload, updated_at=utcnow()))

    def delete_state(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(state.delete().where(state.c.key == key))

    # -- the web: confirmed sign-up, suppression, archive listing, webhook replay guard ---------------
    def request_signup(
        self, email: str, *, name: str | None, country: str | None, at: datetime, min_interval: timedelta
    ) -> tuple[Subscriber, bool]:
        """Record a sign-up request. A new address becomes a *pending* subscriber (sent nothing but the
        confirmation email); an existing one keeps its status, name and country until the link is followed.
        Returns the subscriber and whether to send a confirmation now: never to an active subscriber, and at
        most once per `min_interval` per address (the form is public)."""
        email = email.strip().lower()
        with self.engine.begin() as conn:
            conn.execute(
                _insert_ignoring_conflicts(self.engine, subscribers).values(
                    email=email,
                    name=name,
                    country=country,
                    status=PENDING,
                    joined_at=at,
                    status_changed_at=at,
                    status_reason="signed up, awaiting confirmation",
                    source="signup",
                )
            )
            row = conn.execute(select(subscribers).where(subscribers.c.email == email)).one()
            if row.status == ACTIVE:
                return _row_to_subscriber(row), False
            last = conn.execute(
                select(signups.c.requested_at).where(signups.c.subscriber_id == row.id)
            ).scalar_one_or_none()
            if last is not None and last > at - min_interval:
                return _row_to_subscriber(row), False
            if last is None:
                conn.execute(signups.insert().values(subscriber_id=row.id, requested_at=at))
            else:
                conn.execute(update(signups).where(signups.c.subscriber_id == row.id).values(requested_at=at))
        return _row_to_subscriber(row), True

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

    def suppress(self, subscriber_id: int, status: str, reason: str, *, at: datetime | None = None) -> bool:
        """Stop all mail to a subscriber (unsubscribed, bounced or complained). Idempotent: an address already
        suppressed keeps its first status and reason. True when this call changed something."""
        if status not in SUPPRESSED:
            raise ValueError(f"suppress() takes one of {SUPPRESSED}, not {status!r}")
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == subscriber_id, subscribers.c.status.notin_(SUPPRESSED))
                    .values(status=status, status_reason=reason[:500], status_changed_at=at or utcnow())
                ).rowcount
                > 0
            )

    def archived_issues(self) -> list:
        """Days whose web version is archived (their send has started), oldest first — the public archive."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(issues.c.day, issues.c.number, issues.c.subject, issues.c.first_sent_at)
                .where(issues.c.web_html.is_not(None))
                .order_by(issues.c.day)
            ).all()

    def remember_webhook_token(self, provider: str, token: str, *, at: datetime, forget_before: datetime) -> bool:
        """True the first time a provider's webhook token is seen, False on a replay. Tokens seen before
        `forget_before` are dropped: their signed timestamps are too old to be accepted anyway."""
        with self.engine.begin() as conn:
            conn.execute(webhook_tokens.delete().where(webhook_tokens.c.seen_at < forget_before))
            inserted = conn.execute(
                _insert_ignoring_conflicts(self.engine, webhook_tokens).values(
                    provider=provider, token=token, seen_at=at
                )
            ).rowcount
        return inserted == 1

    # -- late joiners' welcome emails (the scheduler) -------------------------------------------------
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
            .where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
            .where(
                or_(
                    welcomes.c.subscriber_id.is_(None),
                    and_(welcomes.c.status == "failed", welcomes.c.attempts < WELCOME_ATTEMPTS),
                )
            )
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def claim_welcome(self, subscriber_id: int, *, at: datetime) -> bool:
        """Claim a welcome before sending it (re-checking the subscriber is active in the same statement).
        False when it was sent, is in flight elsewhere, or has used up its attempts."""
        source = select(subscribers.c.id, literal("inflight"), literal(1), literal(at, UTCDateTime)).where(
            subscribers.c.id == subscriber_id, subscribers.c.status == ACTIVE
        )
        insert = _insert_ignoring_conflicts(self.engine, welcomes).from_select(
            ["subscriber_id", "status", "attempts", "updated_at"], source
        )
        with self.engine.begin() as conn:
            if conn.execute(insert).rowcount:
                return True
            return (
                conn.execute(
                    update(welcomes)
                    .where(
                        welcomes.c.subscriber_id == subscriber_id,
                        welcomes.c.status == "failed",
                        welcomes.c.attempts < WELCOME_ATTEMPTS,
                    )
                    .values(status="inflight", attempts=welcomes.c.attempts + 1, error=None, updated_at=at)
                ).rowcount
                > 0
            )

    def record_welcome(
        self, subscriber_id: int, *, sent: bool, message_id: str | None = None, error: str | None = None, at: datetime
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(welcomes)
                .where(welcomes.c.subscriber_id == subscriber_id)
                .values(status="sent" if sent else "failed", provider_message_id=message_id, error=error, updated_at=at)
            )

    def welcome_status(self, subscriber_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(welcomes.c.status).where(welcomes.c.subscriber_id == subscriber_id)
            ).scalar_one_or_none()

    def lock_holder(self, name: str) -> str | None:
        """Who holds lock `name` (host:pid), or None — a dead local holder counts as none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(locks.c.owner).where(locks.c.name == name)).first()
        return row.owner if row is not None and _alive(row.owner) else None

    # -- locks --------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A named lock held in the database, so two processes never run the same send or scheduler.

        A lock whose holder is a dead process on this host is taken over (a `kill -9` must not wedge the
        campaign). On another host we cannot tell, so it is reported and left to the operator.
        """
        owner = f"{socket.gethostname()}:{os.getpid()}"
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(locks).where(locks.c.name == name)).first()
                if row is not None:
                    if row.owner != owner and _alive(row.owner):
                        raise LockHeld(name, row.owner, row.acquired_at)
                    conn.execute(locks.delete().where(locks.c.name == name))
                conn.execute(locks.insert().values(name=name, owner=owner, acquired_at=utcnow()))
        except IntegrityError:  # another process inserted the lock between our read and our insert
            with self.engine.connect() as conn:
                row = conn.execute(select(locks).where(locks.c.name == name)).first()
            raise LockHeld(
                name, row.owner if row else "another process", row.acquired_at if row else utcnow()
            ) from None
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == owner))


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # cannot check another machine: assume it is alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


_CLAIM_STATEMENTS: dict[str, Any] = {}


def _claim_statement(engine: Engine):
    """INSERT … SELECT of in-flight rows for the given active subscribers, skipping rows that exist."""
    statement = _CLAIM_STATEMENTS.get(engine.dialect.name)
    if statement is None:
        source = select(
            bindparam("day", type_=Date).label("day"),
            subscribers.c.id.label("subscriber_id"),
            literal(INFLIGHT).label("status"),
            bindparam("batch_id", type_=String).label("batch_id"),
            bindparam("provider", type_=String).label("provider"),
            literal(1).label("attempts"),
            bindparam("at", type_=UTCDateTime).label("updated_at"),
        ).where(subscribers.c.id.in_(bindparam("ids", expanding=True)), subscribers.c.status == ACTIVE)
        statement = _CLAIM_STATEMENTS[engine.dialect.name] = _insert_ignoring_conflicts(engine, deliveries).from_select(
            ["day", "subscriber_id", "status", "batch_id", "provider", "attempts", "updated_at"], source
        )
    return statement


def _insert_ignoring_conflicts(engine: Engine, table: Table):
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


@dataclass(frozen=True)
class DeliveryOutcome:
    subscriber_id: int
    status: str  # SENT | FAILED | REJECTED
    message_id: str | None = None
    error: str | None = None
