"""The ledger's schema: SQLAlchemy Core tables and the UTC datetime type.

Nothing SQLite-only: the same tables run on PostgreSQL. The tables are created and changed only by the
Alembic migrations in `campaign/ledger/migrations/` (the first one is exactly these tables); a test checks
that the migrations and this module agree.

The states these tables store are the `StrEnum`s of states.py.
"""

from __future__ import annotations

from datetime import UTC

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

from campaign.ledger.states import ACTIVE

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
    Column("format", String(8)),  # None: HTML and text; TEXT_ONLY: the text part only (the preferences page)
    Column("consent_at", UTCDateTime),  # consent on record: when the sign-up form was sent,
    Column("consent_version", String(80)),  # the form's wording version,
    Column("confirmed_at", UTCDateTime),  # and when the double opt-in was confirmed
    Column("erased_at", UTCDateTime),  # erased: every personal field gone, the row kept for the counts
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
    Column("edition", Text),  # JSON: the day's verified email, rendered once at its start (series/edition.py)
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


# -- the studio (campaign/studio): organisers' accounts, sessions, revisions, approvals, audit ------------------
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # an organiser's address, normalised lower case
    Column("role", String(16), nullable=False),  # Role
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),  # removed users keep their row: revisions and the audit name them
)

# Server-side sessions: the cookie carries a random id; only its SHA-256 is stored.
studio_sessions = Table(
    "studio_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)
Index("ix_studio_sessions_user", studio_sessions.c.user_id)

# Single-use sign-in links: only the SHA-256 of the token is stored.
signin_links = Table(
    "signin_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

# One row per save (or restore, or approved held edit): the files' text before and after.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("path", String(200), nullable=False),  # relative to the campaign folder: schedule.yaml
    Column("day", Date),
    Column("summary", String(500), nullable=False),
    Column("text_before", Text, nullable=False),
    Column("text_after", Text, nullable=False),
    Column("restored_from", Integer),  # a restore names the revision whose "before" it brought back
)

# Edits to a day less than approval_hours before its send, held until a second person decides.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("fields", Text, nullable=False),  # JSON: subject, preheader, note as the editor saved them
    Column("state", String(16), nullable=False),  # ApprovalState
    Column("requested_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", Integer, ForeignKey("users.id")),
    Column("decided_at", UTCDateTime),
    Column("note", String(2000)),
    Column("revision_id", Integer),
)

# Append-only: rows are inserted, never updated or deleted (ledger/audit.py has no other statement).
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("tag", String(60), nullable=False),  # AuditTag
    Column("user_id", Integer),
    Column("email", String(320)),  # the organiser acting or named (never a reader's address)
    Column("client", String(64)),  # the client address (or "cli")
    Column("additional", Text, nullable=False),  # small JSON; never a secret or a token
)
Index("ix_audit_events_at", audit_events.c.at)


TEXT_ONLY = "text"  # subscribers.format of a reader who asked for plain text only
TEXT_VARIANT = "+text"  # appended to a queued row's crisis variant: that reader's issue goes as text only


def variant_key(variant: str, format_: str | None) -> str:
    """The queue's variant of a reader: their crisis variant, plus TEXT_VARIANT when they chose plain text."""
    return variant + TEXT_VARIANT if format_ == TEXT_ONLY else variant


def split_variant_key(key: str) -> tuple[str, bool]:
    """(crisis variant, text only) of a queue variant."""
    return (key[: -len(TEXT_VARIANT)], True) if key.endswith(TEXT_VARIANT) else (key, False)


# The keyed hash (HMAC-SHA256, CAMPAIGN_SECRET_KEY) of each erased address: never imported or sent to again
# without a new confirmed sign-up; nothing else about the person is kept (ledger/privacy.py).
erased_addresses = Table(
    "erased_addresses",
    metadata,
    Column("address_hash", String(64), primary_key=True),
    Column("erased_at", UTCDateTime, nullable=False),
)

# Aggregate engagement (engagement: aggregate): counts per day and link, variant or event kind — no reader.
engagement_counts = Table(
    "engagement_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("kind", String(16), primary_key=True),  # click, open, provider_open, provider_click
    Column("name", String(80), primary_key=True),  # the link id, the variant, or "all"
    Column("count", Integer, nullable=False),
)


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
