"""Schema migrations (Alembic) on both engines: an empty database is created at the newest schema, the
migrations and `schema.py` agree, a campaign 0.1 database upgrades in place with `campaign db upgrade`
keeping its ledger, and an out-of-date database or a bad URL stops a command with exit 2 and the fix."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text

from campaign.errors import ConfigurationError
from campaign.ledger import migrate
from campaign.ledger.migrate import SCHEMA_0_1
from campaign.ledger.migrations import HEAD
from campaign.ledger.schema import deliveries, issues, metadata, state, subscribers

T0 = datetime(2027, 8, 1, 12, 0, tzinfo=UTC)


def _version(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_head_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_an_empty_database_is_migrated_to_head_and_matches_the_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from campaign.ledger.store import Store

    Store.open(db_url).close()
    assert _version(db_url) == HEAD
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []
    Store.open(db_url).close()  # opening again changes nothing


def _make_0_1_database(url: str) -> None:
    """What campaign 0.1 left: its tables (created by `metadata.create_all`), no alembic_version, a ledger."""
    engine = create_engine(url)
    try:
        old = MetaData()
        for table in metadata.sorted_tables:  # today's tables, cut back to the columns 0.1 had
            if table.name not in SCHEMA_0_1:
                continue  # added by a later migration
            columns = [c._copy() for c in table.columns if c.name in SCHEMA_0_1[table.name]]
            Table(table.name, old, *columns)
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                subscribers.insert(),
                [
                    {"email": "ann@example.org", "status": "active", "joined_at": T0, "source": "import"},
                    {"email": "bo@example.org", "status": "bounced", "joined_at": T0, "source": "import"},
                ],
            )
            conn.execute(
                deliveries.insert().values(
                    day=date(2027, 9, 1), subscriber_id=1, status="sent", batch_id="b1", attempts=1, updated_at=T0
                )
            )
            conn.execute(issues.insert().values(day=date(2027, 9, 1), number=1, subject="Day one", state="sent"))
            conn.execute(state.insert().values(key="pause", value="null", updated_at=T0))
    finally:
        engine.dispose()


def test_a_0_1_database_upgrades_in_place_with_campaign_db_upgrade(any_campaign_dir):
    url = any_campaign_dir.env["CAMPAIGN_DATABASE_URL"]
    _make_0_1_database(url)
    assert _version(url) is None
    result = any_campaign_dir.run("db", "upgrade", check=True)
    assert "campaign 0.1" in result.stdout and HEAD in result.stdout
    assert _version(url) == HEAD
    again = any_campaign_dir.run("db", "upgrade", check=True)
    assert "nothing to do" in again.stdout
    store = any_campaign_dir.store()
    try:
        assert {s.email: s.status for s in store.list_subscribers()} == {
            "ann@example.org": "active",
            "bo@example.org": "bounced",
        }
        assert store.delivery_counts() == {date(2027, 9, 1): {"sent": 1}}
        assert store.issue_states()[date(2027, 9, 1)].subject == "Day one"
    finally:
        store.close()
    listed = any_campaign_dir.run("subscribers", "list", check=True)
    assert "ann@example.org" in listed.stdout


def test_a_database_behind_the_schema_stops_commands_naming_campaign_db_upgrade(any_campaign_dir):
    url = any_campaign_dir.env["CAMPAIGN_DATABASE_URL"]
    any_campaign_dir.run("db", "upgrade", check=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    result = any_campaign_dir.run("subscribers", "list")
    assert result.returncode == 2, result.stderr
    assert "CAMPAIGN_DATABASE_URL" in result.stderr and "campaign db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_from_a_newer_version_or_foreign_tables_is_refused(db_url):
    from campaign.ledger.store import Store

    Store.open(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="newer"):
        Store.open(db_url)


def test_foreign_tables_are_not_mistaken_for_a_0_1_database(tmp_path):
    from campaign.ledger.store import Store

    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE subscribers (id INTEGER PRIMARY KEY, mail TEXT)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="other tables"):
        Store.open(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@localhost/campaign", "mysql is not supported"),
        ("sqlite:////no/such/folder/campaign.db", "does not exist"),
        ("postgresql+pg8000://u@localhost/campaign", "driver is not installed"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://u@127.0.0.1:1/campaign", "cannot open the database"),
    ],
)
def test_a_bad_database_url_exits_2_with_the_setting_and_a_fix(campaign_dir, url, says):
    result = campaign_dir.run("subscribers", "list", env={"CAMPAIGN_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "CAMPAIGN_DATABASE_URL" in result.stderr and says in result.stderr and " — " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_password_in_the_url_is_never_printed(campaign_dir):
    url = "postgresql+psycopg://campaign:s3cret-pw@127.0.0.1:1/campaign"
    result = campaign_dir.run("db", "upgrade", env={"CAMPAIGN_DATABASE_URL": url})
    assert result.returncode == 2 and "s3cret-pw" not in result.stderr + result.stdout


def test_processes_opening_a_new_database_together_create_it_once(db_url):
    import threading

    from campaign.ledger.store import Store

    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_it():
        try:
            barrier.wait()
            Store.open(db_url).close()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and _version(db_url) == HEAD
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(subscribers.c.id)).all() == []
    engine.dispose()
