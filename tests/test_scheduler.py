"""The scheduler on a controlled clock: on time (New York, Auckland across NZ DST, local-time delivery),
restarts inside and beyond the grace window, edits while running. Real SQLite, real outbox, real APScheduler."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from campaign.cli.status_table import status_table
from campaign.clock import Clock
from campaign.timing.slots import slots_for
from tests.conftest import REPO, people
from tests.scheduler_helpers import (
    AKL,
    UTC,
    at_ny,
    date_header,
    emls,
    import_people,
    ledger,
    recipients,
    run_once,
    running,
    set_joined_at,
    wait_until,
)


def _status_text(cdir, now) -> str:
    from rich.console import Console

    console = Console(width=220, record=True, file=open("/dev/null", "w"))
    store = cdir.store()
    try:
        for line in status_table(cdir.project(), store, now=now):
            console.print(line)
    finally:
        store.close()
    return console.export_text()


# -- on time ------------------------------------------------------------------------------------------------
def test_sends_day_one_at_nine_new_york_time_not_before(campaign_dir):
    import_people(campaign_dir, people(3))
    send_at = at_ny("2027-09-01 09:00")
    with running(campaign_dir, Clock(send_at - timedelta(seconds=2))) as scheduler:
        wait_until(lambda: scheduler.announced, what="started")
        assert scheduler.announced[0].startswith("next: day 1, 2027-09-01 09:00 EDT, in ")
        assert emls(campaign_dir, "2027-09-01") == []  # not before its time
        wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 3, what="day 1 sent")
    dates = [date_header(p) for p in emls(campaign_dir, "2027-09-01")]
    assert all(send_at <= d <= send_at + timedelta(seconds=3) for d in dates), dates
    assert send_at.astimezone(UTC).hour == 13  # 09:00 EDT is 13:00 UTC
    assert [s for _, _, s in ledger(campaign_dir)] == ["sent"] * 3


def test_auckland_campaign_sends_at_nine_local_across_the_nz_dst_change(campaign_dir):
    """NZ moves to NZDT (UTC+13) on Sunday 26 Sep 2027: 09:00 is 21:00 UTC the day before on the 25th,
    20:00 UTC the day before on the 26th."""
    campaign_dir.edit_schedule("timezone: America/New_York", "timezone: Pacific/Auckland")
    import_people(campaign_dir, people(2))
    schedule = campaign_dir.project().schedule
    assert schedule.send_at(date(2027, 9, 25)).astimezone(UTC) == datetime(2027, 9, 24, 21, 0, tzinfo=UTC)
    assert schedule.send_at(date(2027, 9, 26)).astimezone(UTC) == datetime(2027, 9, 25, 20, 0, tzinfo=UTC)
    day26 = datetime(2027, 9, 26, 9, 0, tzinfo=AKL)
    with running(campaign_dir, Clock(day26 - timedelta(seconds=2))):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-26")) == 2, what="day 26 sent")
    for d in map(date_header, emls(campaign_dir, "2027-09-26")):
        assert day26 <= d <= day26 + timedelta(seconds=3)
        assert d.astimezone(UTC).replace(tzinfo=None) >= datetime(2027, 9, 25, 20, 0)
    # The 25th (and every earlier day) was far more than the grace window ago: missed, not sent.
    assert emls(campaign_dir, "2027-09-25") == []
    assert "missed" in _status_text(campaign_dir, day26 + timedelta(minutes=1)).split("25 Sep ")[1][:60]


def test_local_time_delivery_auckland_first_and_nz_dst(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  delivery: local_time")
    import_people(
        campaign_dir,
        [
            {"email": "kiri@example.org", "name": "Kiri", "country": "NZ", "timezone": "Pacific/Auckland"},
            {"email": "ana@example.org", "name": "Ana", "country": "NZ", "timezone": "Pacific/Auckland"},
            {"email": "nia@example.org", "name": "Nia", "country": "US", "timezone": "America/New_York"},
            {"email": "lee@example.org", "name": "Lee", "country": "US", "timezone": "America/Los_Angeles"},
            {"email": "sam@example.org", "name": "Sam", "country": "GB", "timezone": ""},
        ],
    )
    # Play 24–27 September (accelerated: each message is dated at its slot's scheduled time).
    start = datetime(2027, 9, 24, 0, 0, tzinfo=UTC)
    clock = Clock(start, speed=4 * 86400 / 6)  # four days in about six seconds
    with running(campaign_dir, clock):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-27")) == 5, timeout=30, what="day 27 for everyone")
    got25, got26 = recipients(campaign_dir, "2027-09-25"), recipients(campaign_dir, "2027-09-26")
    utc = lambda d: d.astimezone(UTC).replace(tzinfo=None)  # noqa: E731
    assert utc(got25["kiri@example.org"]) == datetime(2027, 9, 24, 21, 0)  # 09:00 NZST
    assert utc(got26["kiri@example.org"]) == datetime(2027, 9, 25, 20, 0)  # 09:00 NZDT, after the change
    assert utc(got26["ana@example.org"]) == datetime(2027, 9, 25, 20, 0)
    assert utc(got26["nia@example.org"]) == datetime(2027, 9, 26, 13, 0)  # 09:00 EDT
    assert utc(got26["sam@example.org"]) == datetime(2027, 9, 26, 13, 0)  # no zone: the campaign's time
    assert utc(got26["lee@example.org"]) == datetime(2027, 9, 26, 16, 0)  # 09:00 PDT
    # Auckland goes first: its day-26 messages were written before New York's.
    paths = {p.name.split("-", 1)[1]: p for p in emls(campaign_dir, "2027-09-26")}
    assert paths["kiri@example.org.eml"].stat().st_mtime_ns < paths["nia@example.org.eml"].stat().st_mtime_ns
    # Every day is marked sent once its last zone is done.
    text = _status_text(campaign_dir, datetime(2027, 9, 27, 20, 0, tzinfo=UTC))
    assert "26 Sep " in text and "sent" in text.split("26 Sep ")[1][:40]


def test_local_time_slots_group_zones_by_instant():
    from campaign.series.schedule import parse_schedule

    text = (
        (REPO / "schedule.yaml")
        .read_text(encoding="utf-8")
        .replace("default_country: US", "default_country: US\n  delivery: local_time")
    )
    schedule = parse_schedule(text).schedule
    zones = frozenset({"Pacific/Auckland", "America/New_York", "America/Toronto", "America/Chicago"})
    day = [s for s in slots_for(schedule, zones) if s.day == date(2027, 9, 26)]
    assert [s.zones for s in day] == [
        frozenset({"Pacific/Auckland"}),
        frozenset({"America/New_York", "America/Toronto"}),
        frozenset({"America/Chicago"}),
    ]
    assert [s.default_group for s in day] == [False, True, False]  # no zone → with the campaign's zone


# -- restarts -------------------------------------------------------------------------------------------------
def test_restart_thirty_minutes_after_the_send_time_sends_the_day_once(campaign_dir):
    import_people(campaign_dir, people(3))
    with running(campaign_dir, Clock(at_ny("2027-09-01 08:50"))) as scheduler:
        wait_until(lambda: scheduler.announced, what="next send announced")
    assert emls(campaign_dir, "2027-09-01") == []  # stopped before 09:00
    back = at_ny("2027-09-01 09:30")
    run_once(campaign_dir, Clock(back))  # back 30 minutes after the send time
    sent = emls(campaign_dir, "2027-09-01")
    assert len(sent) == 3
    assert all(back <= date_header(p) < back + timedelta(seconds=5) for p in sent)
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:45")))  # and again: nothing twice
    with running(campaign_dir, Clock(at_ny("2027-09-01 10:00"))):
        pass
    assert len(emls(campaign_dir, "2027-09-01")) == 3
    assert [s for _, _, s in ledger(campaign_dir)] == ["sent"] * 3
    assert "sent" in _status_text(campaign_dir, back).split("01 Sep 09:00")[1][:30]


def test_restart_after_the_grace_window_does_not_send_and_status_says_missed(campaign_dir):
    import_people(campaign_dir, people(3))
    late = at_ny("2027-09-01 11:01")  # grace is 120 minutes
    scheduler = run_once(campaign_dir, Clock(late))
    assert emls(campaign_dir, "2027-09-01") == [] and ledger(campaign_dir) == []
    assert [s.day for s in scheduler.summary.missed] == [date(2027, 9, 1)]
    row = campaign_dir.store().issue_states()[date(2027, 9, 1)]
    assert row.state == "missed" and "campaign send 1" in row.note
    assert "missed (3 owed" in _status_text(campaign_dir, late)
    result = campaign_dir.run("status", check=True)  # the real CLI, on the real clock
    assert "missed" in result.stdout and "campaign send 1" in result.stdout
    # The operator sends it by hand; the scheduler then leaves it alone.
    campaign_dir.run("send", "1", "--yes", check=True)
    run_once(campaign_dir, Clock(late + timedelta(minutes=5)))
    assert len(emls(campaign_dir, "2027-09-01")) == 3
    assert "sent" in _status_text(campaign_dir, late).split("01 Sep 09:00")[1][:40]


def test_grace_window_comes_from_schedule_yaml(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  misfire_grace_minutes: 30")
    import_people(campaign_dir, people(2))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:31")))  # 31 minutes late: beyond 30
    assert emls(campaign_dir, "2027-09-01") == []
    run_once(campaign_dir, Clock(at_ny("2027-09-02 09:29")))  # 29 minutes late: sent
    assert len(emls(campaign_dir, "2027-09-02")) == 2


# -- edits while running ---------------------------------------------------------------------------------------
def test_moving_a_future_day_takes_effect_without_a_restart(campaign_dir, caplog):
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(2))
    clock = Clock(at_ny("2027-09-01 08:59"), speed=60)  # one minute a second
    with running(campaign_dir, clock) as scheduler:
        wait_until(lambda: scheduler.announced, what="started")
        campaign_dir.edit_schedule(
            '    subject: "Welcome: a month of hope, learning and support"\n',
            '    subject: "Welcome: a month of hope, learning and support"\n    send_time: "09:03"\n',
        )
        wait_until(
            lambda: "moved from 2027-09-01 09:00 EDT to 2027-09-01 09:03 EDT" in caplog.text,
            timeout=5,
            what="the edit picked up",
        )
        wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 2, timeout=15, what="day 1 sent")
        assert all(d == at_ny("2027-09-01 09:03") for d in map(date_header, emls(campaign_dir, "2027-09-01")))
        # A day already sent is never sent again because its subject changed.
        first = {p.name: p.stat().st_mtime_ns for p in emls(campaign_dir, "2027-09-01")}
        campaign_dir.edit_schedule(
            'subject: "Welcome: a month of hope, learning and support"',
            'subject: "Welcome to a month of hope and support"',
        )
        wait_until(lambda: caplog.text.count("changed:") >= 2, timeout=5, what="second edit picked up")
        # Removing day 2 cancels its send; its 09:00 passes with nothing sent.
        campaign_dir.edit_schedule(
            '  2027-09-02:\n    subject: "Why we talk about mental health this September"\n'
            '    preheader: "National Suicide Prevention Month is about awareness, education '
            'and support for everyone."\n',
            "",
        )
        wait_until(lambda: "day 2027-09-02 removed" in caplog.text, timeout=5, what="removal picked up")
    assert {p.name: p.stat().st_mtime_ns for p in emls(campaign_dir, "2027-09-01")} == first
    assert len(ledger(campaign_dir, date(2027, 9, 1))) == 2


def test_invalid_edit_is_rejected_with_its_line_and_the_schedule_stays(campaign_dir, caplog):
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(2))
    clock = Clock(at_ny("2027-09-01 08:59"), speed=30)  # day 1 in two seconds
    with running(campaign_dir, clock) as scheduler:
        wait_until(lambda: scheduler.announced, what="started")
        path = campaign_dir.root / "schedule.yaml"
        text = path.read_text(encoding="utf-8")
        broken = text.replace('    subject: "A month', '    subject: "A month" x"', 1)  # a stray quote
        assert broken != text
        bad_line = next(i for i, line in enumerate(broken.splitlines(), 1) if '"A month" x"' in line)
        path.write_text(broken, encoding="utf-8")
        wait_until(lambda: "edit is invalid" in caplog.text, timeout=5, what="the invalid edit rejected")
        wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 2, timeout=15, what="day 1 sent anyway")
        assert date_header(emls(campaign_dir, "2027-09-01")[0]) == at_ny("2027-09-01 09:00")
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert any("schedule.yaml:" in line and "YAML syntax error" in line for line in errors), errors
        assert any(f"schedule.yaml:{bad_line}: YAML syntax error" in line for line in errors), (bad_line, errors)
        # A valid fix is picked up again.
        path.write_text(text.replace('  send_time: "09:00"', '  send_time: "10:00"'), encoding="utf-8")
        wait_until(
            lambda: "moved from 2027-09-02 09:00 EDT to 2027-09-02 10:00 EDT" in caplog.text,
            timeout=5,
            what="the fixed schedule in force",
        )


def test_valid_edit_adding_a_day_schedules_it(campaign_dir, caplog):
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(1))
    # 2 September removed from the file at start; adding it back while running schedules it.
    original = (campaign_dir.root / "schedule.yaml").read_text(encoding="utf-8")
    entry = (
        '  2027-09-02:\n    subject: "Why we talk about mental health this September"\n'
        '    preheader: "National Suicide Prevention Month is about awareness, education and support for everyone."\n'
    )
    campaign_dir.edit_schedule(entry, "")
    with running(campaign_dir, Clock(at_ny("2027-09-02 08:59:30"), speed=20)):
        (campaign_dir.root / "schedule.yaml").write_text(original, encoding="utf-8")
        wait_until(lambda: "day 2027-09-02 added" in caplog.text, timeout=5, what="added day picked up")
        wait_until(lambda: len(emls(campaign_dir, "2027-09-02")) == 1, timeout=10, what="added day sent")


def test_local_time_owed_cutoff_is_each_zones_own_send_time(campaign_dir):
    """Someone in Auckland who joins after their 09:00 (but before New York's) starts with the next day, and
    the day still counts as fully sent — not as owed to them, not as missed."""
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  delivery: local_time")
    import_people(
        campaign_dir,
        [
            {"email": "early@example.org", "country": "NZ", "timezone": "Pacific/Auckland"},
            {"email": "nia@example.org", "country": "US", "timezone": "America/New_York"},
        ],
    )
    run_once(campaign_dir, Clock(datetime(2027, 8, 31, 21, 0, 10, tzinfo=UTC)))  # 09:00 in Auckland
    assert list(recipients(campaign_dir, "2027-09-01")) == ["early@example.org"]
    import_people(campaign_dir, [{"email": "late@example.org", "country": "NZ", "timezone": "Pacific/Auckland"}])
    set_joined_at(campaign_dir, "late@example.org", datetime(2027, 8, 31, 22, 0, tzinfo=UTC))
    run_once(campaign_dir, Clock(datetime(2027, 9, 1, 13, 0, 10, tzinfo=UTC)))  # 09:00 in New York
    assert sorted(recipients(campaign_dir, "2027-09-01")) == ["early@example.org", "nia@example.org"]
    text = _status_text(campaign_dir, datetime(2027, 9, 1, 18, 0, tzinfo=UTC))
    day1 = text.split("01 Sep 09:00")[1].splitlines()[0]
    assert [cell.strip() for cell in day1.split("│")][1:4] == ["sent", "2", "0"], day1  # state, sent, owed
    assert campaign_dir.store().issue_states()[date(2027, 9, 1)].state == "sent"
    run_once(campaign_dir, Clock(datetime(2027, 9, 1, 21, 0, 10, tzinfo=UTC)))  # day 2 in Auckland
    assert sorted(recipients(campaign_dir, "2027-09-02")) == ["early@example.org", "late@example.org"]
