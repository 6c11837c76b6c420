"""Opening a database: the URL checked, the schema version checked, and migrations run.

- an empty database is upgraded to the newest schema automatically;
- a database made by campaign 0.1 (its tables, no `alembic_version`) is stamped with the first revision
  when its tables match, so `campaign db upgrade` upgrades it in place and keeps its ledger;
- a database behind the newest schema stops the command (exit 2) naming `campaign db upgrade`;
- a bad URL (unknown driver, driver not installed, missing folder, server down) is a `ConfigurationError`
  naming CAMPAIGN_DATABASE_URL, never a traceback.

Alembic is imported only to change a schema: the usual open reads `alembic_version` with SQLAlchemy alone.
Migrations run under a lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so processes opening
a new database together create it once.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from campaign.errors import ConfigurationError, Problem, StorageError
from campaign.ledger.migrations import FIRST, HEAD
from campaign.ledger.storage import disk_problem

SETTING = "CAMPAIGN_DATABASE_URL"
DIALECTS = ("sqlite", "postgresql")
MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_KEY = 7_236_114_001  # any constant: "campaign migrations"

# The tables and columns of campaign 0.1, before migrations existed (revision FIRST creates exactly these).
SCHEMA_0_1: dict[str, set[str]] = {
    "subscribers": {"id", "email", "name", "country", "timezone", "status", "status_reason", "status_changed_at"}
    | {"paused_until", "joined_at", "source"},
    "issues": {"day", "number", "subject", "web_html", "first_sent_at", "state", "note"},
    "deliveries": {"id", "day", "subscriber_id", "status", "batch_id", "provider", "provider_message_id", "error"}
    | {"attempts", "updated_at"},
    "events": {"id", "received_at", "provider", "kind", "email", "subscriber_id", "payload"},
    "state": {"key", "value", "updated_at"},
    "locks": {"name", "owner", "acquired_at"},
    "signups": {"subscriber_id", "requested_at"},
    "webhook_tokens": {"provider", "token", "seen_at"},
    "welcomes": {"subscriber_id", "status", "attempts", "provider_message_id", "error", "updated_at"},
}
UPGRADE_HINT = "run `campaign db upgrade` (back the database up first), then run this command again"


def ledger_exists(url: str) -> bool:
    """Whether there may be a ledger to read at `url` without creating one: a SQLite file that exists, or any
    server database (asked when opened)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return True  # let opening it report what is wrong with the URL
    if not parsed.get_backend_name().startswith("sqlite"):
        return True
    database = parsed.database
    return database is not None and database not in ("", ":memory:") and Path(database).exists()


def bad_url(message: str, fix: str) -> ConfigurationError:
    return ConfigurationError(Problem("environment", None, SETTING, message, fix))


def engine_for(url: str, **kwargs) -> Engine:
    """An engine for `url`, or a ConfigurationError that says what is wrong with the URL and how to fix it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise bad_url(
            "not a database URL", "use sqlite:///campaign.db or postgresql+psycopg://user:password@host/db"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in DIALECTS:
        raise bad_url(
            f"{shown}: {parsed.get_backend_name()} is not supported",
            "use sqlite:///campaign.db or postgresql+psycopg://user:password@host/db",
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise bad_url(
                f"{shown}: the folder {folder} does not exist", f"create it (mkdir -p {folder}) or fix the path"
            )
    try:
        return create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise bad_url(
            f"{shown}: unknown database driver {parsed.drivername!r}",
            "use sqlite:///campaign.db or postgresql+psycopg://user:password@host/db",
        ) from None
    except ImportError as error:
        raise bad_url(
            f"{shown}: the database driver is not installed ({error.name or error})",
            "install it (for PostgreSQL: pip install 'psycopg[binary]') and use postgresql+psycopg://…",
        ) from None


def cannot_open(engine: Engine, error: DBAPIError) -> ConfigurationError | StorageError:
    if line := disk_problem(error):  # the disk, not the setting: exit 1 and an alert, not "bad input"
        return StorageError(line)
    shown = engine.url.render_as_string(hide_password=True)
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    fix = (
        "check the path and that this user may write to its folder"
        if engine.dialect.name == "sqlite"
        else "check the host, port, user, password and database name, and that the server is running"
    )
    return bad_url(f"{shown}: cannot open the database ({reason})", fix)


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision; "" for campaign 0.1's tables; None for an empty database; "?" for
    tables that are neither."""
    names = set(inspect(conn).get_table_names())
    if "alembic_version" in names:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or None
    ours = names & set(SCHEMA_0_1)
    if not ours:
        return None
    inspector = inspect(conn)
    matches = ours == set(SCHEMA_0_1) and all(
        cols <= {c["name"] for c in inspector.get_columns(table)} for table, cols in SCHEMA_0_1.items()
    )
    return "" if matches else "?"


def ensure_schema(engine: Engine) -> None:
    """Make the database usable by this version, or say what to run (see the module docstring)."""
    try:
        with engine.connect() as conn:
            if current_revision(conn) == HEAD:
                return
        with migration_connection(engine) as conn:
            revision = current_revision(conn)
            if revision is None:
                _alembic(conn, "upgrade")
                return
            if revision == "":
                _alembic(conn, "stamp", FIRST)
                revision = FIRST
    except DBAPIError as error:
        raise cannot_open(engine, error) from None
    _check(revision)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """`campaign db upgrade`: bring the database to the newest schema. Returns (before, after)."""
    try:
        with migration_connection(engine) as conn:
            before = current_revision(conn)
            if before == "?":
                _check(before)
            if before == "":
                _alembic(conn, "stamp", FIRST)
            if before != HEAD:
                _alembic(conn, "upgrade")
            return before, HEAD
    except DBAPIError as error:
        raise cannot_open(engine, error) from None


def _check(revision: str | None) -> None:
    if revision == HEAD:
        return
    if revision == "?":
        raise bad_url(
            "the database holds other tables than campaign's, or an incomplete copy of them",
            "point CAMPAIGN_DATABASE_URL at the campaign's own database, or at an empty one",
        )
    if revision is not None and revision.isdigit() and revision < HEAD:
        raise bad_url(f"the database schema is at revision {revision}, this version needs {HEAD}", UPGRADE_HINT)
    raise bad_url(
        f"the database schema is at revision {revision}, newer than this version knows ({HEAD})",
        "upgrade campaign (pip install -U campaign), or point CAMPAIGN_DATABASE_URL at another database",
    )


@contextmanager
def migration_connection(engine: Engine):
    """A connection holding the migration lock, committed on success."""
    if engine.dialect.name == "sqlite":
        locked = engine_for(str(engine.url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with locked.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
        finally:
            locked.dispose()
        return
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        yield conn


def _alembic(conn: Connection, action: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    if action == "stamp":
        command.stamp(config, revision)
    else:
        command.upgrade(config, revision)
