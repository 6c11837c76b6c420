"""Storage: SQLAlchemy Core tables and the queries the rest of the package needs.

SQLite by default (`CAMPAIGN_DATABASE_URL`), with nothing SQLite-only in the schema, so the same code runs on
PostgreSQL. The deliveries table is the ledger: one row per (issue day, subscriber), unique — it alone
decides who is still owed an issue.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        TypeDecorator, UniqueConstraint, and_, bindparam, create_engine, event, exists, func, literal, not_,
                        or_, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .errors import CampaignError

# Subscriber states. Only ACTIVE subscribers are ever sent an issue.
PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED = "pending", "active", "unsubscribed", "bounced", "complained"
SUPPRESSED = (UNSUBSCRIBED, BOUNCED, COMPLAINED)

# Delivery states (the ledger).
INFLIGHT = "inflight"   # claimed by a sender, request under way
SENT = "sent"           # accepted by the provider
FAILED = "failed"       # transient failure past the retry bound: retried by `send --retry-failed`
REJECTED = "rejected"   # permanent failure for this recipient (bad address, inactive recipient)
UNKNOWN = "unknown"     # was in flight when a sender died: may or may not have gone out
DELIVERY_STATES = (INFLIGHT, SENT, FAILED, REJECTED, UNKNOWN)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()

subscribers = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),      # normalised, lower case
    Column("name", String(200)),
    Column("country", String(2)),                                   # ISO 3166-1 alpha-2, upper case
    Column("timezone", String(64)),                                 # IANA name, for local-time delivery
    Column("status", String(16), nullable=False, default=ACTIVE),
    Column("status_reason", String(500)),
    Column("status_changed_at", UTCDateTime),
    Column("paused_until", UTCDateTime),                            # "pause these emails for 7 days"
    Column("joined_at", UTCDateTime, nullable=False),               # owed issues whose send time is after this
    Column("source", String(16), nullable=False, default="import"),
)
Index("ix_subscribers_status_id", subscribers.c.status, subscribers.c.id)

issues = Table(
    "issues", metadata,
    Column("day", Date, primary_key=True),
    Column("number", Integer, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("web_html", Text),                                       # what the archive shows ("view in browser")
    Column("first_sent_at", UTCDateTime),
    Column("state", String(16)),                                    # sending | sent | missed | skipped
    Column("note", String(500)),
)

deliveries = Table(
    "deliveries", metadata,
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
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("kind", String(40), nullable=False),                     # bounce, complaint, unsubscribe, ...
    Column("email", String(320)),
    Column("subscriber_id", Integer),
    Column("payload", Text, nullable=False),
)

state = Table(
    "state", metadata,
    Column("key", String(80), primary_key=True),
    Column("value", Text, nullable=False),                          # JSON
    Column("updated_at", UTCDateTime, nullable=False),
)

locks = Table(
    "locks", metadata,
    Column("name", String(80), primary_key=True),
    Column("owner", String(200), nullable=False),                   # host:pid
    Column("acquired_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    country: str | None
    timezone: str | None
    status: str
    joined_at: datetime


class LockHeld(CampaignError):
    def __init__(self, name: str, owner: str, since: datetime):
        super().__init__(f"{name} is held by process {owner} since {since:%Y-%m-%d %H:%M:%S} UTC")
        self.owner = owner


def _row_to_subscriber(row) -> Subscriber:
    return Subscriber(row.id, row.email, row.name, row.country, row.timezone, row.status, row.joined_at)


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> "Store":
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

    def set_status(self, subscriber_id: int, status: str, reason: str, *, at: datetime | None = None,
                   only_if_active: bool = False) -> bool:
        """Change a subscriber's state. Suppression is sticky: a suppressed subscriber never becomes active
        again through this call (re-subscription goes through a confirmed sign-up)."""
        at = at or utcnow()
        where = subscribers.c.id == subscriber_id
        if status == ACTIVE:
            where = and_(where, subscribers.c.status.notin_(SUPPRESSED))
        if only_if_active:
            where = and_(where, subscribers.c.status == ACTIVE)
        with self.engine.begin() as conn:
            result = conn.execute(update(subscribers).where(where).values(
                status=status, status_reason=reason, status_changed_at=at))
        return result.rowcount > 0

    def pause_subscriber(self, subscriber_id: int, until: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(paused_until=until))

    # -- the ledger ---------------------------------------------------------------------------------
    def owed_query(self, day: date, cutoff: datetime, *, at: datetime | None = None):
        """Active subscribers owed `day`: joined before its send time, not paused, no ledger row yet."""
        at = at or cutoff
        return (select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country,
                       subscribers.c.timezone)
                .where(subscribers.c.status == ACTIVE)
                .where(subscribers.c.joined_at <= cutoff)
                .where(or_(subscribers.c.paused_until.is_(None), subscribers.c.paused_until <= at))
                .where(not_(exists().where(and_(deliveries.c.day == day,
                                                deliveries.c.subscriber_id == subscribers.c.id)))))

    def owed_page(self, day: date, cutoff: datetime, *, after_id: int, limit: int,
                  at: datetime | None = None, extra_where=None) -> list:
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

    def claim(self, day: date, subscriber_ids: Sequence[int], *, batch_id: str, provider: str,
              at: datetime | None = None) -> list[int]:
        """Mark a batch in flight *before* the request; returns the ids this call claimed.

        The insert re-reads each subscriber's status in the same statement, so someone who unsubscribed
        after the page was read is not claimed; a row that already exists (another sender got there
        first) is left alone and not returned.
        """
        if not subscriber_ids:
            return []
        at = at or utcnow()
        source = (select(literal(day, Date).label("day"), subscribers.c.id.label("subscriber_id"),
                         literal(INFLIGHT).label("status"), literal(batch_id).label("batch_id"),
                         literal(provider).label("provider"), literal(1).label("attempts"),
                         literal(at, UTCDateTime).label("updated_at"))
                  .where(subscribers.c.id.in_(list(subscriber_ids)), subscribers.c.status == ACTIVE))
        insert = _insert_ignoring_conflicts(self.engine, deliveries).from_select(
            ["day", "subscriber_id", "status", "batch_id", "provider", "attempts", "updated_at"], source)
        with self.engine.begin() as conn:
            conn.execute(insert)
            claimed = conn.execute(select(deliveries.c.subscriber_id)
                                   .where(deliveries.c.batch_id == batch_id)).scalars().all()
        return sorted(claimed)

    def reclaim(self, day: date, subscriber_ids: Sequence[int], *, batch_id: str, provider: str,
                from_states: Iterable[str], at: datetime | None = None) -> list[int]:
        """Move existing rows (failed, or unknown on an explicit resend) back in flight under a new batch."""
        if not subscriber_ids:
            return []
        at = at or utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(deliveries)
                         .where(deliveries.c.day == day)
                         .where(deliveries.c.subscriber_id.in_(list(subscriber_ids)))
                         .where(deliveries.c.status.in_(list(from_states)))
                         .where(deliveries.c.subscriber_id.in_(
                             select(subscribers.c.id).where(subscribers.c.status == ACTIVE)))
                         .values(status=INFLIGHT, batch_id=batch_id, provider=provider, error=None,
                                 attempts=deliveries.c.attempts + 1, updated_at=at))
            claimed = conn.execute(select(deliveries.c.subscriber_id)
                                   .where(deliveries.c.batch_id == batch_id)).scalars().all()
        return sorted(claimed)

    def rows_in_state(self, day: date, status: str, *, after_id: int, limit: int) -> list:
        """Ledger rows of one state joined to their (still active) subscribers, for retries and resends."""
        query = (select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.country,
                        subscribers.c.timezone, deliveries.c.batch_id)
                 .join(deliveries, deliveries.c.subscriber_id == subscribers.c.id)
                 .where(deliveries.c.day == day, deliveries.c.status == status)
                 .where(subscribers.c.status == ACTIVE)
                 .where(subscribers.c.id > after_id)
                 .order_by(subscribers.c.id).limit(limit))
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def record(self, day: date, results: Iterable["DeliveryOutcome"], *, at: datetime | None = None) -> None:
        """Record a batch's outcome in one transaction (the checkpoint)."""
        at = at or utcnow()
        params = [{"d": day, "sid": r.subscriber_id, "st": r.status, "mid": r.message_id, "err": r.error,
                   "at": at} for r in results]
        if not params:
            return
        stmt = (update(deliveries)
                .where(deliveries.c.day == bindparam("d"), deliveries.c.subscriber_id == bindparam("sid"))
                .values(status=bindparam("st"), provider_message_id=bindparam("mid"), error=bindparam("err"),
                        updated_at=bindparam("at")))
        with self.engine.begin() as conn:
            conn.execute(stmt.execution_options(synchronize_session=False), params)

    def mark_inflight_unknown(self, day: date | None = None) -> int:
        """Rows left in flight by a sender that died: we cannot know whether the provider took them."""
        stmt = update(deliveries).where(deliveries.c.status == INFLIGHT)
        if day is not None:
            stmt = stmt.where(deliveries.c.day == day)
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(status=UNKNOWN, error="in flight when the sender stopped",
                                            updated_at=utcnow())).rowcount

    def delivery_counts(self) -> dict[date, dict[str, int]]:
        out: dict[date, dict[str, int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.day, deliveries.c.status, func.count())
                                .group_by(deliveries.c.day, deliveries.c.status))
            for day, status, n in rows:
                out.setdefault(day, {})[status] = n
        return out

    def deliveries_for(self, day: date) -> list:
        with self.engine.connect() as conn:
            return conn.execute(select(deliveries, subscribers.c.email)
                                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                                .where(deliveries.c.day == day).order_by(deliveries.c.subscriber_id)).all()

    # -- issues (archive) ---------------------------------------------------------------------------
    def save_issue(self, day: date, *, number: int, subject: str, web_html: str, at: datetime) -> None:
        """Archive the day's web version when its first delivery starts (what "view in browser" shows)."""
        with self.engine.begin() as conn:
            existing = conn.execute(select(issues.c.day).where(issues.c.day == day)).first()
            if existing:
                conn.execute(update(issues).where(issues.c.day == day).values(
                    number=number, subject=subject, web_html=web_html, state="sending"))
            else:
                conn.execute(issues.insert().values(day=day, number=number, subject=subject, web_html=web_html,
                                                    first_sent_at=at, state="sending"))

    def set_issue_state(self, day: date, state_: str, note: str | None = None, *, number: int = 0,
                        subject: str = "") -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(issues.c.day).where(issues.c.day == day)).first():
                conn.execute(update(issues).where(issues.c.day == day).values(state=state_, note=note))
            else:
                conn.execute(issues.insert().values(day=day, number=number, subject=subject, state=state_, note=note))

    def issue_states(self) -> dict[date, Any]:
        with self.engine.connect() as conn:
            return {row.day: row for row in conn.execute(select(issues.c.day, issues.c.number, issues.c.subject,
                                                                issues.c.first_sent_at, issues.c.state,
                                                                issues.c.note))}

    def archived_issue(self, day: date):
        with self.engine.connect() as conn:
            return conn.execute(select(issues).where(issues.c.day == day, issues.c.web_html.is_not(None))).first()

    # -- events (webhooks) --------------------------------------------------------------------------
    def add_event(self, *, provider: str, kind: str, email: str | None, subscriber_id: int | None,
                  payload: Any, at: datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(events.insert().values(received_at=at or utcnow(), provider=provider, kind=kind,
                                                email=email, subscriber_id=subscriber_id,
                                                payload=json.dumps(payload, sort_keys=True, default=str)))

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
            raise LockHeld(name, row.owner if row else "another process", row.acquired_at if row else utcnow()) from None
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


def _insert_ignoring_conflicts(engine: Engine, table: Table):
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


@dataclass(frozen=True)
class DeliveryOutcome:
    subscriber_id: int
    status: str                 # SENT | FAILED | REJECTED
    message_id: str | None = None
    error: str | None = None
