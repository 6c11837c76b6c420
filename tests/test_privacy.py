"""Readers' access and erasure rights, on SQLite and PostgreSQL, through the real CLI and a real server:
`campaign subscribers export` prints valid JSON with deliveries and the consent record; `campaign subscribers
erase` leaves the address's bytes in no database file (SQLite db, -wal, -shm; the PostgreSQL dump), keeps the
counts of earlier days, makes a re-import report the address as erased (with its line), and a signed sign-up
plus confirmation brings it back; `campaign privacy purge` erases those who left longer ago than retention."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import select

from campaign.clock import utcnow
from campaign.delivery.tokens import Tokens
from campaign.ledger.privacy import address_hash
from campaign.ledger.schema import events, subscribers
from campaign.ledger.states import ACTIVE, UNSUBSCRIBED
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, eml_for, list_unsubscribe_url, live_web, path_of, read_eml

DAY1, DAY2 = date(2027, 9, 1), date(2027, 9, 2)
ANA = "ana@bücher.de"
READER7 = "reader7@example.org"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _day_counts(cdir) -> dict:
    store = cdir.store()
    try:
        return {day: counts for day, counts in store.delivery_counts().items()}
    finally:
        store.close()


# Read in another process: closing a file descriptor of the database in this one would drop every POSIX lock
# this process's SQLite connections hold on it (the server's), and the erasing process would then think it is
# the last one and delete the -wal file itself, hiding what this test looks for.
_READ = """
import json, sys, pathlib
db = pathlib.Path(sys.argv[1])
print(json.dumps({p.name: p.read_bytes().hex() for p in db.parent.glob(db.name + "*")}))
"""


def _database_bytes(cdir, request) -> dict[str, bytes]:
    """Every file of the SQLite database, or the PostgreSQL data dump."""
    url = cdir.settings.database_url
    if url.startswith("sqlite"):
        read = subprocess.run(
            [sys.executable, "-c", _READ, url.removeprefix("sqlite:///")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return {name: bytes.fromhex(blob) for name, blob in json.loads(read.stdout).items()}
    cluster = request.getfixturevalue("pg_cluster")
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    dump = subprocess.run(
        [str(cluster.bin / "pg_dump"), "-h", "127.0.0.1", "-p", str(parsed.port), "-U", "postgres"]
        + ["--data-only", parsed.path.lstrip("/")],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return {"pg_dump": dump.stdout}


def test_export_prints_valid_json_with_deliveries_and_the_consent_record(any_campaign_dir):
    cdir = any_campaign_dir
    store = cdir.store()
    try:
        signed_up = utcnow() - timedelta(hours=1)
        ana, send = store.request_signup(
            ANA, name="Ana", country="GB", at=signed_up, min_interval=timedelta(0), consent_version="form@v1"
        )
        assert send and store.confirm_signup(ana.id, at=signed_up + timedelta(minutes=5)) == "activated"
        store.add_event(provider="web", kind="confirmed", email=ANA, subscriber_id=ana.id, payload={}, at=signed_up)
    finally:
        store.close()
    cdir.run("send", "1", "--yes", check=True)
    result = cdir.run("subscribers", "export", ANA, check=True)
    data = json.loads(result.stdout)
    assert data["profile"]["email"] == ANA and data["profile"]["name"] == "Ana"
    assert data["consent"]["form_wording_version"] == "form@v1"
    assert data["consent"]["signed_up_at"].startswith(signed_up.isoformat()[:16])
    assert data["consent"]["confirmed_at"] is not None
    assert [(d["day"], d["state"]) for d in data["deliveries"]] == [(DAY1.isoformat(), "sent")]
    assert data["deliveries"][0]["time"]
    assert [e["kind"] for e in data["events"]] == ["confirmed"]
    assert data["preferences"] == {"format": "html", "paused_until": None}
    missing = cdir.run("subscribers", "export", "nobody@example.org")
    assert missing.returncode == 2 and "not a subscriber" in missing.stderr and "Traceback" not in missing.stderr


def test_erase_leaves_no_byte_of_the_address_and_only_a_new_confirmed_signup_brings_it_back(
    any_campaign_dir, request, caplog
):
    caplog.set_level(logging.DEBUG)  # every log record of the server (in this process) is looked at below
    cdir = any_campaign_dir
    add_subscribers(cdir, [*people(3), {"email": READER7, "name": "Reader Seven", "country": "US"}])
    with live_web(cdir) as web:  # a server holds the database open (SQLite: the WAL stays) during the erasure
        cdir.run("send", "1", "--yes", check=True)
        unsubscribe = list_unsubscribe_url(read_eml(eml_for(cdir.outbox / DAY1.isoformat(), READER7)))
        assert requests.post(web.url + path_of(unsubscribe), data=ONE_CLICK, timeout=10).status_code == 200
        cdir.run("send", "2", "--yes", check=True)
        before = _day_counts(cdir)
        assert any(READER7.encode() in blob for blob in _database_bytes(cdir, request).values())

        url = cdir.settings.database_url
        holder = cdir.store() if url.startswith("sqlite") else None
        if holder is not None:  # another open connection (a server's): SQLite then keeps the -wal file
            holder.count_subscribers()
        erased = cdir.run("subscribers", "erase", READER7, "--yes", check=True)
        if holder is not None:
            wal = Path(url.removeprefix("sqlite:///")).name + "-wal"
            assert wal in _database_bytes(cdir, request)  # the WAL is there (and was cleaned)
        assert READER7 not in erased.stdout + erased.stderr  # nothing we print repeats it
        for name, blob in _database_bytes(cdir, request).items():
            assert READER7.encode() not in blob, name
            assert b"Reader Seven" not in blob, name
        assert _day_counts(cdir) == before  # the status counts of earlier days are unchanged
        status = cdir.run("status", check=True)
        assert READER7 not in status.stdout
        if holder is not None:
            holder.close()
        # the server still answers the old links calmly, and the preferences page has nothing to manage
        assert requests.post(web.url + path_of(unsubscribe), data=ONE_CLICK, timeout=10).status_code == 200

    # Re-importing the address: reported as erased with its line number, nothing imported.
    csv = cdir.write_csv([{"email": "Reader7@Example.org", "name": "Again"}], name="again.csv")
    again = cdir.run("subscribers", "import", str(csv))
    assert "again.csv:2" in again.stderr and "erased" in again.stderr and "0 added" in again.stdout
    assert "Traceback" not in again.stderr
    strict = cdir.run("subscribers", "import", "--strict", str(csv))
    assert strict.returncode == 2 and "again.csv:2" in strict.stderr
    store = cdir.store()
    try:
        assert store.subscriber_by_email(READER7) is None
        # A signed sign-up followed by its confirmation re-activates the address.
        with live_web(cdir) as web:
            session = requests.Session()
            form = session.get(f"{web.url}/subscribe", timeout=10).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            sent = session.post(f"{web.url}/subscribe", data={"csrf_token": csrf, "email": READER7}, timeout=10)
            assert sent.status_code == 200
            web.app.extensions["campaign"].mailer.flush()
            back = store.subscriber_by_email(READER7)
            token = Tokens(TEST_SECRET).confirm(back.id)
            page = session.get(f"{web.url}/confirm/{token}", timeout=10).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            assert session.post(f"{web.url}/confirm/{token}", data={"csrf_token": csrf}, timeout=10).status_code == 200
        assert store.subscriber_by_email(READER7).status == ACTIVE
        assert store.erased_hashes([address_hash(TEST_SECRET, READER7)]) == set()
        with store.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.email == READER7)).one()
        assert row.consent_at is not None and row.consent_version.startswith("subscribe.html.j2@")
        assert row.confirmed_at is not None
    finally:
        store.close()
    assert READER7 not in caplog.text and "Reader Seven" not in caplog.text  # nor in the logs we write


def test_a_reader_who_left_can_still_download_and_delete_their_data(campaign_dir):
    add_subscribers(campaign_dir, [{"email": READER7, "name": "Reader Seven"}])
    with live_web(campaign_dir) as web:
        reader = web.store.subscriber_by_email(READER7)
        web.store.suppress(reader.id, UNSUBSCRIBED, "left")
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(reader.id, utcnow().date())}"
        session = requests.Session()
        page = session.get(url, timeout=10).text
        assert "You are unsubscribed" in page and "Delete me" in page and "Download my data" in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert "emailed you a link" in session.post(url + "/export", data={"csrf_token": csrf}, timeout=10).text
        assert session.post(url + "/delete", data={"csrf_token": csrf}, timeout=10).status_code == 200
        done = session.post(url + "/delete/confirm", data={"csrf_token": csrf}, timeout=10)
        assert "You are deleted" in done.text and web.store.is_erased(reader.id)
        assert "Delete me" not in session.get(url, timeout=10).text


def test_delete_me_needs_a_second_post_and_download_my_data_emails_a_link(campaign_dir):
    add_subscribers(campaign_dir, [{"email": READER7, "name": "Reader Seven"}])
    with live_web(campaign_dir) as web:
        reader = web.store.subscriber_by_email(READER7)
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(reader.id, utcnow().date())}"
        session = requests.Session()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', session.get(url, timeout=10).text).group(1)

        asked = session.post(url + "/export", data={"csrf_token": csrf}, timeout=10)
        assert asked.status_code == 200 and "emailed you a link" in asked.text and READER7 not in asked.text
        web.app.extensions["campaign"].data_mailer.flush()
        (mail,) = (campaign_dir.outbox / "data-requests").rglob("*.eml")
        text = read_eml(mail).get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"(http://\S+/export/\S+)", text).group(1)
        download = requests.get(link, timeout=10)
        assert download.status_code == 200 and download.headers["Content-Type"].startswith("application/json")
        assert json.loads(download.text)["profile"]["email"] == READER7
        assert requests.get(link[:-2] + "xx", timeout=10).status_code == 400
        assert session.post(url + "/export", data={}, timeout=10).status_code == 400  # no CSRF token

        first = session.post(url + "/delete", data={"csrf_token": csrf}, timeout=10)
        assert first.status_code == 200 and "Yes, delete me" in first.text
        assert web.store.subscriber_by_email(READER7) is not None  # the first POST only asks
        assert session.post(url + "/delete/confirm", data={}, timeout=10).status_code == 400
        assert web.store.subscriber_by_email(READER7) is not None
        done = session.post(url + "/delete/confirm", data={"csrf_token": csrf}, timeout=10)
        assert done.status_code == 200 and "You are deleted" in done.text
        assert web.store.subscriber_by_email(READER7) is None and web.store.is_erased(reader.id)
        assert requests.get(link, timeout=10).status_code == 410  # the data link finds nobody now
        assert "nothing to manage" in session.get(url, timeout=10).text
        with web.store.engine.connect() as conn:
            assert conn.execute(select(events).where(events.c.subscriber_id == reader.id)).all() == []


@pytest.mark.parametrize("days_ago", [120, 30])
def test_purge_erases_only_those_who_left_longer_ago_than_retention(campaign_dir, days_ago):
    add_subscribers(campaign_dir, people(2))
    store = campaign_dir.store()
    try:
        leaver = store.subscriber_by_email("reader00002@example.org")
        store.suppress(leaver.id, UNSUBSCRIBED, "test", at=utcnow() - timedelta(days=days_ago))
    finally:
        store.close()
    result = campaign_dir.run("privacy", "purge", check=True)
    store = campaign_dir.store()
    try:
        gone = store.subscriber_by_email("reader00002@example.org") is None
        assert gone == (days_ago > 90) and store.subscriber_by_email("reader00001@example.org") is not None
        assert f"erased {1 if gone else 0} reader(s)" in result.stdout
    finally:
        store.close()


def test_the_scheduler_purges_once_a_day(campaign_dir):
    from campaign.clock import Clock
    from tests.scheduler_helpers import at_ny, run_once

    add_subscribers(campaign_dir, people(2))
    store = campaign_dir.store()
    try:
        leaver = store.subscriber_by_email("reader00002@example.org")
        store.suppress(leaver.id, UNSUBSCRIBED, "test", at=at_ny("2027-05-01 12:00"))
    finally:
        store.close()
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:00:10")))  # 4 months later: past retention_days (90)
    store = campaign_dir.store()
    try:
        assert store.subscriber_by_email("reader00002@example.org") is None and store.is_erased(leaver.id)
        assert store.subscriber_by_email("reader00001@example.org").status == ACTIVE
        assert {r.email for r in store.deliveries_for(DAY1)} == {"reader00001@example.org"}
    finally:
        store.close()
