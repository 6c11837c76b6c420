"""Several senders sharing one day's queue: `campaign send DAY --workers N`, `campaign worker`, leases,
fencing and the rate limit in the database — against the real local fake providers."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import timedelta

import psutil
import pytest
from sqlalchemy import text

from campaign.clock import utcnow
from campaign.ledger.store import Store
from tests.conftest import CAMPAIGN_BIN
from tests.provider_servers import FakePostmark, FakeResend, go_live, ledger, make_rig, seed_subscribers

RATE = "  default_country: US\n  rate_limit: 1000000\n  concurrency: 4"


def postmark_env(server) -> dict:
    return {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url}


def resend_env(server) -> dict:
    return {"CAMPAIGN_PROVIDER": "resend", "RESEND_API_KEY": "re_test", "RESEND_API_URL": server.url}


def bulk_subscribers(store: Store, n: int) -> None:
    """n active subscribers in one statement (PostgreSQL: generate_series; fast at 100,000)."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, name, status, joined_at, source) "
                "SELECT 'reader' || lpad(i::text, 6, '0') || '@example.org', 'Reader ' || i, 'active', "
                "TIMESTAMP '2026-01-01', 'import' FROM generate_series(1, :n) AS i"
            ),
            {"n": n},
        )


def test_two_workers_send_every_subscriber_exactly_once(campaign_dir):
    go_live(campaign_dir)
    # one request at a time, 0.25 s each: one worker alone would take 1.5 s, so both take part even when the
    # second process starts late on a busy machine
    campaign_dir.edit_schedule("  default_country: US", RATE.replace("concurrency: 4", "concurrency: 1"))
    seed_subscribers(campaign_dir.store(), 3_000)
    with FakePostmark(lean=True, delay=0.25) as server:
        result = campaign_dir.run("send", "1", "--yes", "--workers", "2", env=postmark_env(server), check=True)
        assert "sent 3000" in result.stdout and "by 2 workers" in result.stdout
        day = campaign_dir.project().schedule.dates[0]
        assert ledger(campaign_dir.store(), day) == {"sent": 3_000}
        counts = server.counts()
        assert len(counts) == 3_000 and set(counts.values()) == {1}
        workers = {row.worker_id.rsplit(":", 1)[0] for row in campaign_dir.store().deliveries_for(day)}
        assert len(workers) >= 2  # both processes took part (host:pid)
        # nothing queued any more: a worker finds nothing to do and exits
        before = len(server.requests)
        idle = campaign_dir.run("worker", "--once", env=postmark_env(server), check=True)
        assert idle.returncode == 0 and len(server.requests) == before


def test_a_worker_whose_rows_were_expired_is_fenced_and_changes_nothing(campaign_dir):
    """A sender whose lease lapsed (too slow, cut off) must not record over rows another sender now owns."""
    with FakePostmark() as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 1_200)
        sender = rig.sender(concurrency=1)
        send_batch = rig.provider.send_batch

        def slow_send(batch):  # while the request is out, another sender sees the lease as lapsed
            rig.store.expire_leases(rig.day, now=utcnow() + timedelta(hours=1))
            return send_batch(batch)

        rig.provider.send_batch = slow_send
        report = sender.send_day(rig.day)
        assert report.stopped and "fenced" in report.stopped
        assert len(server.requests) == 1  # it stopped at once: no second batch
        assert rig.ledger() == {"unknown": 500}  # the expired batch stays unknown; the rest is still owed
        assert sender.count_owed(rig.day) == 700


def test_the_rate_limit_is_shared_through_the_database(db_url):
    store = Store.open(db_url)
    try:
        assert store.take_tokens("send:x", 100, rate=100, burst=100) == 0.0  # a full bucket
        wait = store.take_tokens("send:x", 50, rate=100, burst=100)  # another worker, same row: in debt
        assert 0.3 < wait <= 0.5
        time.sleep(wait + 0.005)  # (SQLite's clock ticks in milliseconds)
        assert store.take_tokens("send:x", 0, rate=100, burst=100) == 0.0
    finally:
        store.close()


def test_a_long_running_worker_sends_a_queued_day_and_stops_cleanly_on_sigterm(campaign_dir):
    go_live(campaign_dir)
    campaign_dir.edit_schedule("  default_country: US", RATE)
    with FakePostmark(lean=True, delay=0.2) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 4_000)
        assert rig.sender().start_day(rig.day) == 4_000  # what `campaign send 1 --workers N` does first
        process = subprocess.Popen(
            [str(CAMPAIGN_BIN), "worker", "--poll", "0.2"],
            cwd=campaign_dir.root,
            env=campaign_dir.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while server.accepted < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "worker stopped by signal" in err
        after = rig.ledger()
        assert set(after) == {"sent"} and after["sent"] == server.accepted < 4_000  # consistent, nothing in flight
        assert rig.sender().count_owed(rig.day) == 4_000 - server.accepted  # the rest is still queued
        done = campaign_dir.run("worker", "--once", check=True)
        assert "sent" in done.stdout and rig.ledger() == {"sent": 4_000}
        assert set(server.counts().values()) == {1}


def _send_with_workers(campaign_dir, env: dict, *, workers: int = 4) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CAMPAIGN_BIN), "send", "1", "--yes", "--workers", str(workers)],
        cwd=campaign_dir.root,
        env={**campaign_dir.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_one_worker(process: subprocess.Popen, server, *, after: int, store) -> int:
    deadline = time.monotonic() + 120
    while server.accepted < after:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the send did not get going"
        time.sleep(0.01)
    victim = psutil.Process(process.pid).children()[0]
    # kill it while it holds rows in flight (between two batches it would leave nothing to expire)
    while not _in_flight_of(store, victim.pid):
        assert time.monotonic() < deadline, "the victim never held a batch"
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    return victim.pid


def _in_flight_of(store, pid: int) -> int:
    from sqlalchemy import func, select

    from campaign.ledger.schema import deliveries

    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.status == "inflight", deliveries.c.worker_id.like(f"%:{pid}:%"))
        ).scalar_one()


@pytest.mark.slow
def test_four_workers_on_postgresql_send_100000_subscribers_exactly_once(pg_campaign_dir):
    campaign_dir = go_live(pg_campaign_dir)
    campaign_dir.edit_schedule("  default_country: US", RATE)
    bulk_subscribers(campaign_dir.store(), 100_000)
    with FakePostmark(lean=True) as server:
        process = _send_with_workers(campaign_dir, postmark_env(server))
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert "sent 100000" in out and "by 4 workers" in out
        day = campaign_dir.project().schedule.dates[0]
        assert ledger(campaign_dir.store(), day) == {"sent": 100_000}
        counts = server.counts()
        assert len(counts) == 100_000 and set(counts.values()) == {1}
        holders = {row.worker_id.rsplit(":", 1)[0] for row in campaign_dir.store().deliveries_for(day)}
        assert len(holders) == 4


@pytest.mark.slow
def test_a_worker_killed_mid_send_leaves_only_its_batches_unknown(pg_campaign_dir):
    campaign_dir = go_live(pg_campaign_dir)
    campaign_dir.edit_schedule("  default_country: US", RATE)
    bulk_subscribers(campaign_dir.store(), 100_000)
    with FakePostmark(lean=True, delay=0.05) as server:
        env = {**postmark_env(server), "CAMPAIGN_LEASE_SECONDS": "2"}
        process = _send_with_workers(campaign_dir, env)
        victim = _kill_one_worker(process, server, after=20_000, store=campaign_dir.store())
        out, err = process.communicate(timeout=600)
        day = campaign_dir.project().schedule.dates[0]
        rows = campaign_dir.store().deliveries_for(day)
        unknown = [r for r in rows if r.status == "unknown"]
        assert f":{victim}:" in {r.worker_id for r in unknown}.pop()  # only the dead worker's rows
        assert {r.worker_id for r in unknown} == {unknown[0].worker_id}
        assert 0 < len(unknown) <= 4 * 500 and "unknown" in out
        assert ledger(campaign_dir.store(), day) == {"sent": 100_000 - len(unknown), "unknown": len(unknown)}
        counts = server.counts()
        for row in rows:
            assert counts[row.email] == 1 if row.status == "sent" else counts[row.email] in (0, 1)


@pytest.mark.slow
def test_a_resend_worker_killed_mid_send_has_its_batches_resent_under_the_same_key(pg_campaign_dir):
    campaign_dir = go_live(pg_campaign_dir)
    campaign_dir.edit_schedule("  default_country: US", RATE)
    bulk_subscribers(campaign_dir.store(), 100_000)
    with FakeResend(key="re_test", lean=True, delay=0.05) as server:
        env = {**resend_env(server), "CAMPAIGN_LEASE_SECONDS": "2"}
        process = _send_with_workers(campaign_dir, env)
        _kill_one_worker(process, server, after=20_000, store=campaign_dir.store())
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err
        assert "unknown" not in out
        day = campaign_dir.project().schedule.dates[0]
        assert ledger(campaign_dir.store(), day) == {"sent": 100_000}
        counts = server.counts()
        assert len(counts) == 100_000 and set(counts.values()) == {1}  # everyone exactly once
        resent = [r for r in campaign_dir.store().deliveries_for(day) if r.attempts > 1]
        assert 0 < len(resent) <= 4 * 100  # the dead worker's batches, resent whole under their own batch ids
