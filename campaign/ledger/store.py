"""`Store`: the one object the rest of the package talks to, composed of one mixin per table group.

    SubscriberQueries (subscribers.py) · DeliveryLedger (deliveries.py) · IssueArchive (issues.py)
    EventLog (events.py) · LocksAndState (locks.py) · Welcomes (welcomes.py) · RateLimits (rates.py)
    PostponedLedger (postponed.py) · Positions (positions.py: where each reader is) · Preferences (preferences.py)
    Privacy (privacy.py) · Engagement (engagement.py)
    (DeliveryLedger includes DeliveryQueue, queue.py: enqueue, claim, leases)

SQLite by default (`CAMPAIGN_DATABASE_URL`), PostgreSQL (`postgresql+psycopg://`) with the same code.
`Store.open()` checks the URL and the schema version and runs the migrations an empty database needs
(see migrate.py). The states and tables live in schema.py, each table group's queries in its own module.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.engine import Engine

from campaign.ledger import migrate
from campaign.ledger.deliveries import DeliveryLedger
from campaign.ledger.engagement import Engagement
from campaign.ledger.events import EventLog
from campaign.ledger.issues import IssueArchive
from campaign.ledger.locks import LocksAndState
from campaign.ledger.pending import PendingDeliveries
from campaign.ledger.positions import Positions
from campaign.ledger.postponed import PostponedLedger
from campaign.ledger.preferences import Preferences
from campaign.ledger.privacy import Privacy
from campaign.ledger.rates import RateLimits
from campaign.ledger.schema import deliveries, events, issues, state, welcomes
from campaign.ledger.subscribers import SubscriberQueries
from campaign.ledger.welcomes import Welcomes

if TYPE_CHECKING:
    from campaign.ledger.views import OperatorLedger

__all__ = ["Store"]


class Store(
    SubscriberQueries,
    DeliveryLedger,
    IssueArchive,
    EventLog,
    LocksAndState,
    Welcomes,
    RateLimits,
    PostponedLedger,
    PendingDeliveries,
    Positions,
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

    @property
    def shared(self) -> bool:
        """PostgreSQL: several processes on several hosts share this ledger (advisory locks, one rate for all
        workers, a standby scheduler); SQLite: one host."""
        return self.engine.dialect.name == "postgresql"

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
    # (busy_timeout first: switching to WAL waits for a writer too — another process creating the database)
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted and overwritten content is zeroed, not left in free space: an erased address leaves no byte
    # behind (ledger/privacy.py; the WAL is checkpointed after an erasure).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


if TYPE_CHECKING:  # mypy checks that the Store provides every view the layers above are typed against

    def _provides_every_view(store: Store) -> OperatorLedger:
        return store
