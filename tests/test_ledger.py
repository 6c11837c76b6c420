"""The ledger's guarantees, on SQLite and on a real PostgreSQL (`db_url` runs each test on both engines):
replay guards, claims and their transitions, sticky suppression, upserts, and writers racing each other."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from campaign.clock import utcnow
from campaign.errors import LockHeld
from campaign.ledger.issues import IllegalTransition
from campaign.ledger.queue import Variants
from campaign.ledger.schema import deliveries, issues, subscribers
from campaign.ledger.states import (
    ACTIVE,
    BOUNCED,
    FAILED,
    INFLIGHT,
    PENDING,
    QUEUED,
    SENT,
    UNKNOWN,
    UNSUBSCRIBED,
    DeliveryStatus,
    SubscriberStatus,
)
from campaign.ledger.store import Store
from campaign.ledger.subscribers import Audience
from tests.conftest import people

DAY = date(2027, 9, 1)
T0 = datetime(2027, 8, 1, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(db_url):
    s = Store.open(db_url)
    yield s
    s.close()


def add(store: Store, n: int, *, status: str = ACTIVE, timezone: str | None = None, start: int = 1) -> list[int]:
    with store.begin() as conn:
        conn.execute(
            subscribers.insert(),
            [
                {
                    "email": f"reader{i:05d}@example.org",
                    "name": f"Réader {i}",
                    "status": status,
                    "timezone": timezone,
                    "joined_at": T0,
                    "source": "import",
                }
                for i in range(start, start + n)
            ],
        )
        return list(
            conn.execute(
                select(subscribers.c.id).where(subscribers.c.id >= 0).order_by(subscribers.c.id.desc()).limit(n)
            ).scalars()
        )[::-1]


def ledger(store: Store, day: date = DAY) -> dict[int, str]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(deliveries.c.subscriber_id, deliveries.c.status).where(deliveries.c.day == day))
        return {sid: status for sid, status in rows}


def test_states_are_str_enums_stored_as_their_strings(store):
    assert SubscriberStatus.ACTIVE == "active" and DeliveryStatus.SENT == "sent" and SENT is DeliveryStatus.SENT
    (sid,) = add(store, 1)
    store.suppress(sid, BOUNCED, "550 no such user")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM subscribers")).scalar_one() == "bounced"


def test_webhook_token_is_accepted_once_and_a_replay_refused(store):
    assert store.remember_webhook_token("mailgun", "tok-1", at=T0, forget_before=LONG_AGO) is True
    assert store.remember_webhook_token("mailgun", "tok-1", at=T0, forget_before=LONG_AGO) is False
    assert store.remember_webhook_token("resend", "tok-1", at=T0, forget_before=LONG_AGO) is True  # per provider
    # Tokens older than the signature window are forgotten (their signatures would be refused anyway).
    later = T0 + timedelta(days=2)
    assert store.remember_webhook_token("mailgun", "tok-1", at=later, forget_before=later - timedelta(days=1))


def test_webhook_token_raced_by_many_threads_is_accepted_exactly_once(store):
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def deliver():
        barrier.wait()
        results.append(store.remember_webhook_token("mailgun", "same", at=T0, forget_before=LONG_AGO))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_a_welcome_is_claimed_once_and_retried_only_after_a_failure(store):
    sid, pending = add(store, 2)
    store.set_status(pending, PENDING, "awaiting confirmation")
    assert store.claim_welcome(sid, at=T0) is True
    assert store.claim_welcome(sid, at=T0) is False  # in flight: a second process must not send it too
    assert store.claim_welcome(pending, at=T0) is False  # not active: no welcome
    store.record_welcome(sid, sent=False, error="503", at=T0)
    assert store.claim_welcome(sid, at=T0) is True  # attempt 2
    store.record_welcome(sid, sent=False, error="503", at=T0)
    assert store.claim_welcome(sid, at=T0) is True  # attempt 3
    store.record_welcome(sid, sent=False, error="503", at=T0)
    assert store.claim_welcome(sid, at=T0) is False and store.welcome_status(sid) == "failed"
    other = add(store, 1, start=3)[0]
    assert store.claim_welcome(other, at=T0) is True
    store.record_welcome(other, sent=True, message_id="m-1", at=T0)
    assert store.claim_welcome(other, at=T0) is False and store.welcome_status(other) == "sent"


VARIANTS = Variants({"US": "US", "NZ": "NZ"}, "US", "INTL")
CUTOFF = T0 + timedelta(days=30)


def claim(store: Store, batch: str, *, limit: int = 100, worker: str = "here:1:w1", variant: str = "US") -> list[int]:
    rows = store.claim_batch(
        DAY,
        variant,
        limit=limit,
        worker_id=worker,
        batch_id=batch,
        provider="outbox",
        lease_until=utcnow() + timedelta(hours=1),
        at=T0,
    )
    return [r.id for r in rows]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_enqueue_claim_record_release_and_reclaim(store):
    ids = add(store, 6)
    store.suppress(ids[5], UNSUBSCRIBED, "left before the send")
    store.enqueue(DAY, CUTOFF, VARIANTS, at=T0)
    store.enqueue(DAY, CUTOFF, VARIANTS, at=T0)  # a second start queues nothing twice
    assert ledger(store) == {i: QUEUED for i in ids[:5]}
    assert store.count_owed(DAY, CUTOFF) == 5  # queued is still owed
    assert claim(store, "b1", limit=3) == ids[:3]
    # Two workers never get the same rows: the second gets only what nobody has claimed.
    assert claim(store, "b2", worker="here:2:w2") == ids[3:5]
    assert claim(store, "b3") == [] and store.count_owed(DAY, CUTOFF) == 0

    groups = {(SENT, "msg-1", None): ids[:1], (SENT, "msg-2", None): ids[1:2], (FAILED, None, "503"): ids[2:3]}
    assert store.record_batch(DAY, "b1", groups, worker_id="here:1:w1", at=T0) == 3  # one statement, per-row ids
    assert ledger(store) == {ids[0]: SENT, ids[1]: SENT, ids[2]: FAILED, ids[3]: INFLIGHT, ids[4]: INFLIGHT}
    assert {r.provider_message_id for r in store.deliveries_for(DAY) if r.status == SENT} == {"msg-1", "msg-2"}
    # Recording touches only rows of its own batch still in flight, and only the worker's own (fencing).
    assert store.record_batch(DAY, "b1", {(UNKNOWN, None, "late answer"): ids[:3]}, worker_id="here:1:w1") == 0
    assert store.record_batch(DAY, "b2", {(SENT, "m", None): ids[3:5]}, worker_id="here:1:w1") == 0
    assert ledger(store)[ids[0]] == SENT and ledger(store)[ids[2]] == FAILED and ledger(store)[ids[3]] == INFLIGHT
    assert store.renew_leases("here:2:w2", ["b2"], utcnow() + timedelta(hours=1)) == 2
    assert store.renew_leases("here:1:w1", ["b2"], utcnow() + timedelta(hours=1)) == 0

    assert store.release(DAY, "b2", worker_id="here:2:w2") == 2  # claimed, never sent: queued again, owed
    assert ledger(store)[ids[3]] == QUEUED and store.count_owed(DAY, CUTOFF) == 2

    assert store.reclaim(DAY, ids, batch_id="b4", provider="outbox", from_states=[FAILED], at=T0) == [ids[2]]
    assert store.release(DAY, "b4", restore_to=FAILED) == 1 and ledger(store)[ids[2]] == FAILED

    # Leases: a live worker's rows are never expired; a lapsed lease or a dead local process's are.
    assert claim(store, "b5", worker="elsewhere:1:w3") == ids[3:5]
    assert store.expire_leases(DAY) == 0
    assert store.expire_leases(DAY, now=utcnow() + timedelta(hours=2)) == 2
    assert store.count_in_state(DAY, UNKNOWN) == 2 and store.count_in_state(DAY, SENT) == 2
    assert store.count_owed(DAY, CUTOFF) == 0


def test_a_dead_local_workers_rows_expire_at_once_and_unsubscribed_queued_rows_are_dropped(store):
    ids = add(store, 4)
    store.enqueue(DAY, CUTOFF, VARIANTS, at=T0)
    here = socket.gethostname()
    assert claim(store, "b1", limit=2, worker=f"{here}:{dead_pid()}:x") == ids[:2]
    assert claim(store, "b2", limit=1, worker=f"{here}:{os.getpid()}:y") == ids[2:3]
    assert store.expire_leases(DAY) == 2  # the dead one's, at once, not after its lease
    assert ledger(store)[ids[2]] == INFLIGHT
    store.suppress(ids[3], UNSUBSCRIBED, "clicked the link after the enqueue")
    assert claim(store, "b3") == []  # the claim re-checks the subscriber
    assert store.drop_inactive(DAY) == 1 and ids[3] not in ledger(store)


def test_the_queue_carries_each_subscribers_crisis_variant(store):
    with store.begin() as conn:
        conn.execute(
            subscribers.insert(),
            [
                {"email": f"r{i}@example.org", "country": c, "status": ACTIVE, "joined_at": T0, "source": "import"}
                for i, c in enumerate(["US", "nz", None, "", "FR"])
            ],
        )
    store.enqueue(DAY, CUTOFF, VARIANTS, at=T0)
    assert sorted(r.variant for r in store.deliveries_for(DAY)) == ["INTL", "NZ", "US", "US", "US"]
    assert store.count_owed_by_variant(DAY, CUTOFF, VARIANTS) == {"INTL": 1, "NZ": 1, "US": 3}
    assert store.queued_variants(DAY) == ["INTL", "NZ", "US"]
    assert [len(claim(store, f"b{v}", variant=v)) for v in ("NZ", "INTL", "US")] == [1, 1, 3]


def test_an_audience_narrows_the_owed_set_by_time_zone(store):
    auckland = add(store, 2, timezone="Pacific/Auckland")
    none = add(store, 1, start=3)
    odd = add(store, 1, timezone="Mars/Olympus", start=4)
    cutoff = T0 + timedelta(days=30)
    nz = Audience(zones=frozenset({"Pacific/Auckland"}))
    rest = Audience(others=True, known_zones=frozenset({"Pacific/Auckland"}))
    with store.engine.connect() as conn:
        for audience, expected in ((nz, auckland), (rest, none + odd)):
            owed = conn.execute(store.owed_query(DAY, cutoff, audience=audience).order_by(subscribers.c.id))
            assert [r.id for r in owed] == expected
    store.enqueue(DAY, cutoff, VARIANTS, at=T0, audience=nz)  # a time-zone slot queues its zone only
    assert sorted(ledger(store)) == auckland
    assert (
        store.count_owed(DAY, cutoff, audience=Audience(zones=frozenset({"Pacific/Auckland"}), joined_by=LONG_AGO)) == 0
    )
    assert store.subscriber_timezones() == {"Pacific/Auckland", "Mars/Olympus"}


def test_suppression_is_sticky_and_set_status_never_suppresses(store):
    (sid,) = add(store, 1)
    assert store.suppress(sid, BOUNCED, "550 no such user") is True
    assert store.suppress(sid, UNSUBSCRIBED, "operator") is False  # the first reason stands
    assert store.set_status(sid, ACTIVE, "re-import") is False
    sub = store.subscriber_by_id(sid)
    assert sub is not None and sub.status == BOUNCED
    with pytest.raises(ValueError, match="suppress"):
        store.set_status(sid, UNSUBSCRIBED, "no")
    with pytest.raises(ValueError):
        store.suppress(sid, ACTIVE, "no")
    store.enqueue(DAY, CUTOFF, VARIANTS, at=T0)
    assert ledger(store) == {}


def test_state_is_an_upsert_and_survives_concurrent_writers(store):
    store.set_state("pause", {"since": "x"})
    store.set_state("pause", {"since": "y"})
    assert store.get_state("pause") == {"since": "y"}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(n: int):
        try:
            barrier.wait()
            store.set_state("race", n)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.get_state("race") in range(4)
    store.delete_state("race")
    assert store.get_state("race") is None


def test_a_lock_is_exclusive_and_a_dead_holders_lock_is_taken_over(store):
    if store.engine.dialect.name == "postgresql":
        return _advisory_lock_is_exclusive_and_freed_with_its_connection(store)
    import socket

    with store.lock("send:2027-09-01"):
        assert store.lock_holder("send:2027-09-01") is not None
        other = Store.open(str(store.engine.url.render_as_string(hide_password=False)))
        try:
            # Same process, so same owner: simulate another live process by rewriting the owner.
            with store.begin() as conn:
                conn.execute(text("UPDATE locks SET owner = :o"), {"o": f"{socket.gethostname()}:1"})  # pid 1 lives
            with pytest.raises(LockHeld):
                with other.lock("send:2027-09-01"):
                    pass
            with store.begin() as conn:
                conn.execute(text("UPDATE locks SET owner = :o"), {"o": f"{socket.gethostname()}:999999999"})
            assert store.lock_holder("send:2027-09-01") is None  # dead
            with other.lock("send:2027-09-01"):  # taken over
                assert store.lock_holder("send:2027-09-01") is not None
        finally:
            other.close()
    assert store.lock_holder("send:2027-09-01") is None


def _advisory_lock_is_exclusive_and_freed_with_its_connection(store):
    """PostgreSQL: the lock is an advisory lock on the holder's own connection. Another connection (another
    host) cannot take it; when the holder's connection dies, the server frees it and the next one gets it."""
    url = str(store.engine.url.render_as_string(hide_password=False))
    holder, other = Store.open(url), Store.open(url)
    try:
        held = holder.lock("scheduler")
        held.__enter__()
        assert other.lock_holder("scheduler") is not None
        with pytest.raises(LockHeld):
            with other.lock("scheduler"):
                pass
        # the holder's host dies: its backend goes away (as on kill -9 or a lost network)
        with store.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                )
            )
        deadline = time.monotonic() + 10
        while other.lock_holder("scheduler") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.lock_holder("scheduler") is None  # the row is left, but nobody holds the lock
        with other.lock("scheduler"):
            assert other.lock_holder("scheduler") is not None
        assert other.lock_holder("scheduler") is None
    finally:
        other.close()
        holder.engine.dispose()


EDITION = {"web_html": "<p>one</p>", "parts": {}}  # the ledger stores an edition as it is given


def test_the_day_state_machine_refuses_an_illegal_move(db_url):
    store = Store.open(db_url)
    try:
        with pytest.raises(IllegalTransition, match="cannot move from planned to rescheduled"):
            store.reschedule(DAY)  # only a missed or skipped day is rescheduled
        store.miss(DAY, "not sent in time", number=1, subject="Day one")
        store.reschedule(DAY)
        assert store.issue_states()[DAY].state == "rescheduled"
        store.start(DAY, number=1, subject="Day one", edition=EDITION, at=T0)
        with pytest.raises(IllegalTransition, match="cannot move from sending to rescheduled"):
            store.reschedule(DAY)
        store.finish(DAY)
        assert store.issue_states()[DAY].state == "sent"
    finally:
        store.close()


def test_two_senders_starting_the_same_day_together_do_not_crash_on_the_issue_row(db_url):
    stores = [Store.open(db_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def start(s: Store, n: int):
        try:
            barrier.wait()
            if n % 2:
                s.start(DAY, number=1, subject="Day one", edition=EDITION, at=T0)
            else:
                s.miss(DAY, "not sent in time", number=1, subject="Day one")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    try:
        threads = [threading.Thread(target=start, args=(s, n)) for n, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with stores[0].engine.connect() as conn:
            assert conn.execute(select(issues.c.day)).scalars().all() == [DAY]
        later = {**EDITION, "web_html": "<p>edited later</p>"}
        stores[0].start(DAY, number=1, subject="Day one", edition=later, at=T0 + timedelta(hours=1))
        stores[0].finish(DAY)
        row = stores[0].issue_states()[DAY]
        assert row.state == "sent" and row.number == 1 and row.rendered
        assert stores[0].archived_issue(DAY).web_html == "<p>one</p>"  # the first edition stays as sent
        assert stores[0].edition(DAY) == EDITION
    finally:
        for s in stores:
            s.close()


def test_sign_up_requests_send_a_confirmation_at_most_once_per_interval(store):
    interval = timedelta(minutes=10)
    sub, send = store.request_signup("Ann@Example.org ", name="Ann", country="FR", at=T0, min_interval=interval)
    assert send and sub.status == PENDING and sub.email == "ann@example.org"
    assert (
        store.request_signup(
            "ann@example.org", name=None, country=None, at=T0 + timedelta(minutes=5), min_interval=interval
        )[1]
        is False
    )
    assert (
        store.request_signup(
            "ann@example.org", name=None, country=None, at=T0 + timedelta(minutes=11), min_interval=interval
        )[1]
        is True
    )
    assert store.confirm_signup(sub.id, at=T0 + timedelta(minutes=12)) == "activated"
    assert (
        store.request_signup(
            "ann@example.org", name=None, country=None, at=T0 + timedelta(hours=1), min_interval=interval
        )[1]
        is False
    )


def test_the_cli_unsubscribe_never_overwrites_a_bounce(any_campaign_dir):
    any_campaign_dir.run("subscribers", "import", str(any_campaign_dir.write_csv(people(2))), check=True)
    store = any_campaign_dir.store()
    try:
        bounced = store.subscriber_by_email("reader00001@example.org")
        assert bounced is not None and store.suppress(bounced.id, BOUNCED, "550 no such user")
    finally:
        store.close()
    kept = any_campaign_dir.run("subscribers", "unsubscribe", "reader00001@example.org", check=True)
    assert "already bounced" in kept.stdout
    any_campaign_dir.run("subscribers", "unsubscribe", "reader00002@example.org", check=True)
    store = any_campaign_dir.store()
    try:
        assert {s.email: s.status for s in store.list_subscribers()} == {
            "reader00001@example.org": BOUNCED,
            "reader00002@example.org": UNSUBSCRIBED,
        }
    finally:
        store.close()
