"""Issue 9 #3: a subscriber's own 7-day pause postpones their parts — they resume where they left off, one a
day, and the series runs on past its last day for them — unless the organiser sets `personal_pause: skip`.

The real scheduler plays the series on a fast clock through the outbox; each reader's `.eml` files are read
back (which day, and the calendar date of its Date header in the reader's zone)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign.clock import Clock
from tests.conftest import people
from tests.scheduler_helpers import (
    NY,
    at_ny,
    emls,
    import_people,
    ledger,
    recipients,
    run_once,
    running,
    wait_until,
)


def _pause(cdir, address: str, until: datetime) -> None:
    store = cdir.store()
    try:
        store.pause_subscriber(store.subscriber_by_email(address).id, until)
    finally:
        store.close()


def _parts_by_reader(cdir, zones: dict[str, ZoneInfo] | None = None) -> dict[str, dict[int, date]]:
    """reader → {day number: the calendar date, in the reader's zone, of the Date header}."""
    days = cdir.project().schedule.dates
    out: dict[str, dict[int, date]] = defaultdict(dict)
    for number, day in enumerate(days, 1):
        for address, sent in recipients(cdir, day.isoformat()).items():
            out[address][number] = sent.astimezone((zones or {}).get(address, NY)).date()
    return out


def _play(cdir, start: datetime, *, readers: int, last_day: str = "2027-09-30") -> None:
    with running(cdir, Clock(start, speed=300_000), until="all", timeout=60):
        wait_until(lambda: len(emls(cdir, last_day)) == readers, timeout=90, what=f"{last_day} sent to all")


@pytest.mark.slow
def test_a_readers_pause_postpones_their_parts_they_resume_where_they_left_off_one_a_day(campaign_dir):
    import_people(campaign_dir, people(3))
    for day in (1, 2, 3):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    paused = "reader00002@example.org"
    _pause(campaign_dir, paused, at_ny("2027-09-10 18:00"))  # "pause for 7 days" clicked on the evening of day 3
    _play(campaign_dir, at_ny("2027-09-03 19:00"), readers=3)
    by_reader = _parts_by_reader(campaign_dir)
    for address, parts in by_reader.items():
        assert sorted(parts) == list(range(1, 31)), address  # every part, the paused reader's too
        ordered = [parts[n] for n in range(1, 31)]
        assert ordered == sorted(ordered) and len(set(ordered)) == 30, address  # in order, never two on one day
    others = by_reader["reader00001@example.org"]
    assert others[30] == date(2027, 9, 30)
    mine = by_reader[paused]
    assert [mine[n] for n in (1, 2, 3)] == [date(2027, 9, d) for d in (1, 2, 3)]
    # Days 4–10 fell inside the pause: day 4 arrives on the first send time after it (11 September), and the
    # rest follow one a day — past the series' last day, to 7 October.
    assert mine[4] == date(2027, 9, 11)
    assert all((mine[n] - mine[n - 1]).days == 1 for n in range(5, 31))
    assert mine[30] == date(2027, 10, 7)
    assert all(status == "sent" for _, _, status in ledger(campaign_dir))  # nothing left postponed or ready


@pytest.mark.slow
def test_personal_pause_skip_drops_the_days_inside_the_pause(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  personal_pause: skip")
    import_people(campaign_dir, people(2))
    for day in (1, 2, 3):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    paused = "reader00002@example.org"
    _pause(campaign_dir, paused, at_ny("2027-09-10 18:00"))
    _play(campaign_dir, at_ny("2027-09-03 19:00"), readers=2)
    mine = _parts_by_reader(campaign_dir)[paused]
    assert sorted(mine) == [1, 2, 3, *range(11, 31)]
    assert mine[11] == date(2027, 9, 11) and mine[30] == date(2027, 9, 30)


@pytest.mark.slow
def test_local_time_with_a_personal_pause_and_a_late_joiner_never_two_on_one_local_day(campaign_dir):
    from tests.scheduler_helpers import set_joined_at

    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  delivery: local_time")
    zones = {
        "akl@example.org": "Pacific/Auckland",
        "ny@example.org": "America/New_York",
        "la@example.org": "America/Los_Angeles",
        "none@example.org": "",
    }
    import_people(campaign_dir, [{"email": a, "timezone": z} for a, z in zones.items()])
    import_people(campaign_dir, [{"email": "late@example.org", "timezone": "Asia/Tokyo"}])
    set_joined_at(campaign_dir, "late@example.org", at_ny("2027-09-12 12:00"))
    # Paused from the start: Auckland until its evening of 12 September, Los Angeles until 27 September (so
    # its postponed parts run to the end of October, in the series' tail).
    _pause(campaign_dir, "akl@example.org", datetime(2027, 9, 12, 20, 0, tzinfo=ZoneInfo("Pacific/Auckland")))
    _pause(campaign_dir, "la@example.org", at_ny("2027-09-27 12:00"))
    _play(campaign_dir, at_ny("2027-08-31 00:00"), readers=5)
    tz = {a: ZoneInfo(z or "America/New_York") for a, z in zones.items()} | {"late@example.org": ZoneInfo("Asia/Tokyo")}
    by_reader = _parts_by_reader(campaign_dir, tz)
    for address, parts in by_reader.items():
        local_days = list(parts.values())
        assert len(local_days) == len(set(local_days)), (address, sorted(local_days))
        ordered = [parts[n] for n in sorted(parts)]
        assert ordered == sorted(ordered), address
    for address in zones:
        assert sorted(by_reader[address]) == list(range(1, 31)), address
    assert by_reader["akl@example.org"][30] > date(2027, 9, 30)
    assert by_reader["la@example.org"][30] > date(2027, 9, 30)
    assert 0 < len(by_reader["late@example.org"]) < 30


def test_postpone_is_idempotent_advances_one_part_per_send_time_and_never_sends_the_unsubscribed(db_url, tmp_path):
    """The ledger rules on both engines: a send time tried again advances nobody twice; one READY part per
    reader at a time, their earliest; a tail send time advances once however often it runs."""
    from sqlalchemy import select

    from campaign.clock import utcnow
    from campaign.ledger.schema import deliveries, subscribers
    from campaign.ledger.states import POSTPONED, READY
    from campaign.ledger.store import Store

    store = Store.open(db_url)
    try:
        when = at_ny("2027-08-01 12:00")
        with store.engine.begin() as conn:
            for i, address in enumerate(("a@example.org", "b@example.org", "c@example.org"), 1):
                conn.execute(subscribers.insert().values(id=i, email=address, status="active", joined_at=when))
        days = [date(2027, 9, d) for d in range(1, 11)]
        store.pause_subscriber(1, at_ny("2027-09-03 18:00"))  # a: paused over days 1–3
        store.pause_subscriber(3, at_ny("2027-09-02 18:00"))  # c: paused over days 1–2
        for d, advanced in ((1, 0), (2, 0), (3, 1)):  # day 3: c is back, and gets their day 1
            at = at_ny(f"2027-09-0{d} 09:00")
            assert store.postpone(days[d - 1], at, days=days, at=at) == advanced

        def states(sid):
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(deliveries.c.day, deliveries.c.status)
                    .where(deliveries.c.subscriber_id == sid)
                    .order_by(deliveries.c.day)
                )
                return [(r.day.day, r.status) for r in rows]

        assert states(1) == [(1, POSTPONED), (2, POSTPONED), (3, POSTPONED)]
        assert states(3) == [(1, READY), (2, POSTPONED), (3, POSTPONED)]
        assert states(2) == []  # b was never paused: sent day by day as usual
        # Day 4: a is back; day 4 is postponed for them and their earliest part (day 1) is the one they get;
        # c's day 1 was not sent yet (a crash), so c gets no second READY part.
        at = at_ny("2027-09-04 09:00")
        assert store.postpone(days[3], at, days=days, at=at) == 1
        assert store.postpone(days[3], at, days=days, at=at) == 0  # tried again: nobody advances twice
        assert states(1) == [(1, READY), (2, POSTPONED), (3, POSTPONED), (4, POSTPONED)]
        assert store.ready_days(days) == [date(2027, 9, 1)]
        # Not sent yet (a crash): the next day's send keeps the READY part and makes no second one.
        at = at_ny("2027-09-05 09:00")
        store.postpone(days[4], at, days=days, at=at)
        assert [s for _, s in states(1)].count(READY) == 1
        # An unsubscribed reader's READY part is never offered for sending.
        store.suppress(3, "unsubscribed", "test")
        assert store.count_behind(days, at=at, ready_only=True) == 1
        # After the last day: one advance per tail send time, however often it is tried.
        with store.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.subscriber_id == 1, deliveries.c.status == READY)
                .values(status="sent", updated_at=utcnow())
            )
        at = at_ny("2027-09-11 09:00")
        assert store.advance_tail("tail-1", days=days, at=at) == 1
        assert store.advance_tail("tail-1", days=days, at=at) == 0
        assert store.tail_done("tail-1") and not store.tail_done("tail-2")
        assert states(1)[1] == (2, READY)
        assert store.most_behind(days) == 4  # a: day 2 ready, days 3, 4, 5 postponed
        assert store.behind_summary(days) == (1, 4)
        store.forget_sends(())  # `campaign reset --rehearsal`: the tail's markers go with the deliveries
        assert not store.tail_done("tail-1") and store.most_behind(days) == 0
    finally:
        store.close()


def test_manual_sends_postpone_for_a_paused_reader_and_status_shows_it(campaign_dir):
    """`campaign send` follows the same rule as the scheduler: the paused reader's day is postponed, and once
    they are back a later send makes their earliest part the next one (status and the send say so)."""
    from campaign.clock import utcnow

    import_people(campaign_dir, people(2))
    paused = "reader00002@example.org"
    _pause(campaign_dir, paused, utcnow() + timedelta(days=7))
    assert campaign_dir.run("send", "1", "--yes", check=True).returncode == 0
    assert [r[1:] for r in ledger(campaign_dir)] == [("reader00001@example.org", "sent"), (paused, "postponed")]
    _pause(campaign_dir, paused, utcnow() - timedelta(minutes=1))  # the 7 days are over
    sent = campaign_dir.run("send", "2", "--yes", check=True).stdout
    assert "1 reader(s) back from their own pause get a postponed part" in sent
    assert sorted(r[1:] for r in ledger(campaign_dir) if r[1] == paused) == [(paused, "postponed"), (paused, "ready")]
    status = campaign_dir.run("status", env={"COLUMNS": "200"}, check=True).stdout
    assert "postponed by readers' own pauses: 2 part(s) for 1 reader(s)" in status
    assert len(emls(campaign_dir, "2027-09-02")) == 1  # nobody got two emails from that send
