"""The ledger's schema: SQLAlchemy Core tables, the UTC datetime type and the `StrEnum` states.

Nothing SQLite-only: the same tables run on PostgreSQL. The tables are created and changed only by the
Alembic migrations in `campaign/ledger/migrations/` (the first one is exactly these tables); a test checks
that the migrations and this module agree.

States are `StrEnum`s whose members equal their strings (`SubscriberStatus.ACTIVE == "active"`), and the
module-level aliases (`ACTIVE`, `SENT`, ...) keep older call sites working.
"""

from __future__ import annotations

from datetime import UTC
from enum import StrEnum

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine


class SubscriberStatus(StrEnum):
    """Only ACTIVE subscribers are ever sent an issue; the three suppressed states are sticky."""

    PENDING = "pending"  # signed up, confirmation link not followed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class DeliveryStatus(StrEnum):
    """One ledger row per (issue day, subscriber); the transitions are drawn in `deliveries.py`."""

    QUEUED = "queued"  # owed, enqueued when the day's send started, waiting for a worker to claim it
    INFLIGHT = "inflight"  # claimed by a worker (worker_id, lease_until), request under way
    SENT = "sent"  # accepted by the provider
    FAILED = "failed"  # transient failure past the retry bound: retried by `send --retry-failed`
    REJECTED = "rejected"  # permanent failure for this recipient (bad address, inactive recipient)
    UNKNOWN = "unknown"  # in flight when its worker died (lease expired): may or may not have gone out
    POSTPONED = "postponed"  # the subscriber was paused (or behind) at the day's send: owed later (postponed.py)
    READY = "ready"  # a postponed part chosen for this send time: sent like a retry


class IssueState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    MISSED = "missed"
    SKIPPED = "skipped"


class WelcomeStatus(StrEnum):
    """inflight -> sent | failed (retried while attempts remain); skipped: not welcomed, because a part of the
    series reaches them first (a welcome then would be a second series email on one day)."""

    INFLIGHT = "inflight"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


PENDING, ACTIVE = SubscriberStatus.PENDING, SubscriberStatus.ACTIVE
UNSUBSCRIBED, BOUNCED, COMPLAINED = SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED
SUPPRESSED = (UNSUBSCRIBED, BOUNCED, COMPLAINED)

QUEUED = DeliveryStatus.QUEUED
INFLIGHT, SENT, FAILED = DeliveryStatus.INFLIGHT, DeliveryStatus.SENT, DeliveryStatus.FAILED
REJECTED, UNKNOWN = DeliveryStatus.REJECTED, DeliveryStatus.UNKNOWN
POSTPONED, READY = DeliveryStatus.POSTPONED, DeliveryStatus.READY
DELIVERY_STATES = tuple(DeliveryStatus)

WELCOME_ATTEMPTS = 3  # a welcome that failed (transiently) is tried again, up to this many times in all


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
    Column("status", String(16), nullable=False, default=ACTIVE.value),
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
    Column("state", String(16)),  # IssueState
    Column("note", String(500)),
    Column("frozen", Text),  # JSON: the day as it went out (series/frozen.py's FrozenDay record)
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("status", String(16), nullable=False),  # DeliveryStatus
    Column("batch_id", String(80)),
    Column("provider", String(16)),
    Column("provider_message_id", String(300)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("worker_id", String(120)),  # host:pid:random of the worker holding an INFLIGHT row
    Column("lease_until", UTCDateTime),  # an INFLIGHT row whose lease passed belongs to a dead worker
    Column("variant", String(16)),  # the crisis variant, set when queued
    UniqueConstraint("day", "subscriber_id", name="uq_deliveries_day_subscriber"),
)
# The claim: WHERE day = ? AND status = 'queued' AND variant = ? ORDER BY subscriber_id LIMIT n — a range scan.
Index("ix_deliveries_queue", deliveries.c.day, deliveries.c.status, deliveries.c.variant, deliveries.c.subscriber_id)
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

# A token bucket shared by every worker of a send (delivery/shared_rate.py): one UPDATE … RETURNING per acquire.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),  # seconds since the epoch, by the database's clock
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
    Column("status", String(16), nullable=False),  # WelcomeStatus
    Column("attempts", Integer, nullable=False, default=1),
    Column("provider_message_id", String(300)),
    Column("error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Alerts (campaign/alerts): one row per cause, its dedupe key making the same cause alert once a day; one row
# per channel it went to, with its attempts and last error. Counts and setting names only: no address, no secret.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("day", Date),
    Column("text", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: counts, the campaign's name, what to look at
    Column("raised_at", UTCDateTime, nullable=False),
)
Index("ix_alerts_raised_at", alerts.c.raised_at)

alert_sends = Table(
    "alert_sends",
    metadata,
    Column("alert_id", Integer, ForeignKey("alerts.id"), primary_key=True),
    Column("channel", String(40), primary_key=True),  # webhook | operators | organisers
    Column("status", String(16), nullable=False),  # AlertSendStatus
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)


class AlertSendStatus(StrEnum):
    """pending -> sent | failed (retried with back-off; `campaign alerts list` shows the failed ones)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Tables:
    """What every table-group mixin of `Store` shares: the engine and the dialect's INSERT."""

    engine: Engine

    def insert(self, table: Table):
        """INSERT with ON CONFLICT support (`.on_conflict_do_nothing()`, `.on_conflict_do_update()`)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
