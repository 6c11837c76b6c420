"""`Store`: the one object the rest of the package talks to, composed of one mixin per table group.

    SubscriberQueries (subscribers.py) · DeliveryLedger (deliveries.py) · IssueArchive (issues.py)
    EventLog (events.py) · LocksAndState (locks.py) · Welcomes (welcomes.py) · RateLimits (rates.py)
    PostponedLedger (postponed.py) · Preferences (preferences.py) · Privacy (privacy.py) · Engagement (engagement.py) · (DeliveryLedger includes DeliveryQueue, queue.py: enqueue, claim, leases)

SQLite by default (`CAMPAIGN_DATABASE_URL`), PostgreSQL (`postgresql+psycopg://`) with the same code.
`Store.open()` checks the URL and the schema version and runs the migrations an empty database needs
(see migrate.py). The names below are re-exported so older imports (`from campaign.ledger.store import
ACTIVE, subscribers`) keep working.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from campaign.ledger import migrate
from campaign.ledger.deliveries import DeliveryLedger, DeliveryOutcome
from campaign.ledger.engagement import Engagement
from campaign.ledger.events import EventLog
from campaign.ledger.issues import IssueArchive
from campaign.ledger.locks import LocksAndState
from campaign.ledger.postponed import PostponedLedger
from campaign.ledger.preferences import Preferences
from campaign.ledger.privacy import Privacy
from campaign.ledger.queue import Variants, new_worker_id
from campaign.ledger.rates import RateLimits
from campaign.ledger.schema import (
    ACTIVE,
    BOUNCED,
    COMPLAINED,
    DELIVERY_STATES,
    FAILED,
    INFLIGHT,
    PENDING,
    POSTPONED,
    QUEUED,
    READY,
    REJECTED,
    SENT,
    SUPPRESSED,
    UNKNOWN,
    UNSUBSCRIBED,
    WELCOME_ATTEMPTS,
    DeliveryStatus,
    IssueState,
    SubscriberStatus,
    UTCDateTime,
    WelcomeStatus,
    deliveries,
    events,
    issues,
    locks,
    metadata,
    rate_limits,
    signups,
    state,
    subscribers,
    webhook_tokens,
    welcomes,
)
from campaign.ledger.subscribers import Audience, Subscriber, SubscriberQueries
from campaign.ledger.welcomes import Welcomes

__all__ = [
    "ACTIVE",
    "BOUNCED",
    "COMPLAINED",
    "DELIVERY_STATES",
    "FAILED",
    "INFLIGHT",
    "PENDING",
    "POSTPONED",
    "READY",
    "QUEUED",
    "REJECTED",
    "SENT",
    "SUPPRESSED",
    "UNKNOWN",
    "UNSUBSCRIBED",
    "WELCOME_ATTEMPTS",
    "Audience",
    "DeliveryOutcome",
    "DeliveryStatus",
    "IssueState",
    "Store",
    "Subscriber",
    "Variants",
    "SubscriberStatus",
    "UTCDateTime",
    "WelcomeStatus",
    "deliveries",
    "events",
    "issues",
    "locks",
    "metadata",
    "new_worker_id",
    "rate_limits",
    "signups",
    "state",
    "subscribers",
    "webhook_tokens",
    "welcomes",
]


class Store(
    SubscriberQueries,
    DeliveryLedger,
    IssueArchive,
    EventLog,
    LocksAndState,
    Welcomes,
    RateLimits,
    PostponedLedger,
    Preferences,
    Privacy,
    Engagement,
):
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Open the database at `url`: upgraded automatically when empty; a ConfigurationError (exit 2) when
        the URL is unusable or the schema is behind (`campaign db upgrade`)."""
        engine = migrate.engine_for(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            migrate.ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def forget_sends(self, state_keys: tuple[str, ...]) -> int:
        """Delete every delivery, webhook event, issue record and welcome, and the state keys given; the
        subscribers stay (`campaign reset --rehearsal`). Returns how many deliveries were deleted."""
        with self.engine.begin() as conn:
            gone = conn.execute(deliveries.delete()).rowcount or 0
            for table in (events, issues, welcomes):
                conn.execute(table.delete())
            # and the markers of the send times after the last day (postponed.py): they belong to those sends
            conn.execute(state.delete().where(state.c.key.in_(state_keys) | state.c.key.like("tail:%")))
        return gone

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: the web app and a sender can read while another process writes; busy_timeout waits for a writer
    # instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted and overwritten content is zeroed, not left in free space: an erased address leaves no byte
    # behind (ledger/privacy.py; the WAL is checkpointed after an erasure).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
