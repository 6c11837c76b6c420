"""Series-wide pause and resume (with and without --catch-up), and late joiners — on a controlled clock."""

from __future__ import annotations

from datetime import date, timedelta

from campaign.clock import Clock
from campaign.timing.catchup import mark_skipped, postpone_after_pause
from campaign.timing.pause import end_pause, pause_series
from tests.conftest import people
from tests.scheduler_helpers import (
    at_ny,
    date_header,
    emls,
    import_people,
    ledger,
    plain_text,
    recipients,
    run_once,
    running,
    set_joined_at,
    wait_until,
)
from tests.test_scheduler import _status_text


def _pause(cdir, reason, now):
    store = cdir.store()
    try:
        return pause_series(store, reason, now=now)
    finally:
        store.close()


def test_pause_skips_the_day_and_resume_without_catch_up_keeps_it_skipped(campaign_dir, caplog):
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(2))
    clock = Clock(at_ny("2027-09-01 08:59"), speed=60)
    _pause(campaign_dir, "news coverage of a suicide", clock.now())
    with running(campaign_dir, clock):
        wait_until(lambda: "SKIPPED" in caplog.text, timeout=10, what="day 1 skipped while paused")
        # Manual sends are refused too.
        result = campaign_dir.run("send", "1", "--yes")
        assert result.returncode == 1 and "paused" in result.stderr
    assert emls(campaign_dir, "2027-09-01") == [] and ledger(campaign_dir) == []
    store = campaign_dir.store()
    window = end_pause(store, now=at_ny("2027-09-01 09:10"), catch_up=False)
    assert [s.day for s in mark_skipped(campaign_dir.project(), store, window.since, window.until)] == [
        date(2027, 9, 1)
    ]
    store.close()
    # Back inside the grace window: the skipped day stays skipped (resuming never sends what the pause held).
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:30")))
    assert emls(campaign_dir, "2027-09-01") == []
    text = _status_text(campaign_dir, at_ny("2027-09-01 09:30"))
    assert "skipped (paused: news coverage of a suicide)" in text
    # The next day goes out as usual.
    run_once(campaign_dir, Clock(at_ny("2027-09-02 09:00:30")))
    assert len(emls(campaign_dir, "2027-09-02")) == 2


def test_resume_with_catch_up_sends_the_days_inside_the_pause_once(campaign_dir):
    import_people(campaign_dir, people(2))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:00:10")))  # day 1 before the pause
    assert len(emls(campaign_dir, "2027-09-01")) == 2
    _pause(campaign_dir, "holding mail", at_ny("2027-09-01 20:00"))
    # The scheduler was down during the pause; it comes back before the resume: days 2 and 3 are held.
    run_once(campaign_dir, Clock(at_ny("2027-09-03 09:30")))
    assert emls(campaign_dir, "2027-09-02") == emls(campaign_dir, "2027-09-03") == []
    store = campaign_dir.store()
    resumed_at = at_ny("2027-09-03 12:00")
    window = end_pause(store, now=resumed_at, catch_up=True)
    moved = postpone_after_pause(campaign_dir.project(), store, window.since, window.until)
    store.close()
    # Day 2 goes out at the next send time, day 3 the day after, and so on: one a day.
    assert [(s.number, s.at) for s in moved[:3]] == [
        (2, at_ny("2027-09-04 09:00")),
        (3, at_ny("2027-09-05 09:00")),
        (4, at_ny("2027-09-06 09:00")),
    ]
    assert moved[-1].number == 30 and moved[-1].at == at_ny("2027-10-02 09:00")
    text = _status_text(campaign_dir, resumed_at)
    assert "skipped" not in text and "04 Sep 09:00" in text and "02 Oct 09:00" in text
    for day in (4, 5):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    assert [len(emls(campaign_dir, f"2027-09-0{d}")) for d in (1, 2, 3, 4)] == [2, 2, 2, 0]
    assert {date_header(p) for p in emls(campaign_dir, "2027-09-03")} == {at_ny("2027-09-05 09:00:10")}
    # Nothing is sent twice: not by the scheduler, not by a second resume.
    run_once(campaign_dir, Clock(at_ny("2027-09-05 12:05")))
    store = campaign_dir.store()
    assert end_pause(store, now=resumed_at, catch_up=True) is None
    store.close()
    assert len(ledger(campaign_dir)) == 6


def test_pause_while_running_holds_the_next_day(campaign_dir, caplog):
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(1))
    clock = Clock(at_ny("2027-09-01 08:59"), speed=86400 / 3)  # a day every three seconds
    with running(campaign_dir, clock):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 1, what="day 1 sent")
        _pause(campaign_dir, "news", clock.now())
        wait_until(lambda: "SKIPPED" in caplog.text, timeout=15, what="day 2 skipped while paused")
    assert emls(campaign_dir, "2027-09-02") == []
    assert "day 2, 2027-09-02 09:00 EDT SKIPPED: the series is paused (news)" in caplog.text


def test_late_joiner_starts_with_the_next_day_by_default(campaign_dir):
    import_people(campaign_dir, people(2))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:00:10")))
    import_people(campaign_dir, [{"email": "late@example.org", "name": "Late"}])
    set_joined_at(campaign_dir, "late@example.org", at_ny("2027-09-01 15:00"))
    run_once(campaign_dir, Clock(at_ny("2027-09-02 09:00:10")))
    assert "late@example.org" not in recipients(campaign_dir, "2027-09-01")
    assert "late@example.org" in recipients(campaign_dir, "2027-09-02")
    assert not (campaign_dir.outbox / "2027-08-31").exists()  # no welcome by default
    assert "sent" in _status_text(campaign_dir, at_ny("2027-09-02 10:00")).split("01 Sep 09:00")[1][:30]


def test_late_joiner_gets_one_welcome_linking_to_the_earlier_days(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  late_joiners: welcome")
    import_people(campaign_dir, people(2))
    for day in (1, 2, 3):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    import_people(campaign_dir, [{"email": "late@example.org", "name": "Late", "country": "GB"}])
    set_joined_at(campaign_dir, "late@example.org", at_ny("2027-09-03 12:00"))
    run_once(campaign_dir, Clock(at_ny("2027-09-03 12:01")))  # the running scheduler looks every 30 s
    run_once(campaign_dir, Clock(at_ny("2027-09-04 09:00:10")))
    welcomes = emls(campaign_dir, "2027-08-31")
    assert [p.name.split("-", 1)[1] for p in welcomes] == ["late@example.org.eml"]
    text = plain_text(welcomes[0])
    for day in ("2027-09-01", "2027-09-02", "2027-09-03"):
        assert f"https://news.example.org/archive/{day}" in text
    assert "2027-09-04" not in text and "Your first part, day 4, arrives on Saturday 4 September" in text
    assert "YOU ARE NOT ALONE. HELP IS AVAILABLE." in text and "Samaritans" in text  # GB crisis block
    assert "Medical disclaimer." in text and "news.example.org/unsubscribe/" in text
    # The welcome came first; then day 4, and none of the days before they joined.
    assert welcomes[0].stat().st_mtime_ns <= min(p.stat().st_mtime_ns for p in emls(campaign_dir, "2027-09-04"))
    assert "late@example.org" in recipients(campaign_dir, "2027-09-04")
    assert all("late@example.org" not in recipients(campaign_dir, f"2027-09-0{d}") for d in (1, 2, 3))
    # Once only: later runs (and restarts) never welcome them again.
    first = welcomes[0].stat().st_mtime_ns
    run_once(campaign_dir, Clock(at_ny("2027-09-05 09:00:10")))
    run_once(campaign_dir, Clock(at_ny("2027-09-05 10:00")))
    assert [p.stat().st_mtime_ns for p in emls(campaign_dir, "2027-08-31")] == [first]
    store = campaign_dir.store()
    late = store.subscriber_by_email("late@example.org")
    assert store.welcome_status(late.id) == "sent"
    assert store.welcome_status(store.subscriber_by_email("reader00001@example.org").id) is None
    store.close()


def test_no_welcome_on_a_day_the_late_joiner_gets_a_part_no_two_series_emails_on_one_day(campaign_dir):
    """Joined at 08:00 on 3 September, before that day's 09:00 send: day 3 is their first email, and a welcome
    the same day would be a second one — so they are not welcomed (the part's "Day 3 of 30" orients them).
    A joiner after the send is welcomed that day and gets day 4 the next."""
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  late_joiners: welcome")
    import_people(campaign_dir, people(1))
    for day in (1, 2):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    import_people(campaign_dir, [{"email": "early@example.org"}, {"email": "after@example.org"}])
    set_joined_at(campaign_dir, "early@example.org", at_ny("2027-09-03 08:00"))
    set_joined_at(campaign_dir, "after@example.org", at_ny("2027-09-03 09:30"))
    for moment in ("2027-09-03 08:01", "2027-09-03 09:00:10", "2027-09-03 09:31", "2027-09-04 09:00:10"):
        run_once(campaign_dir, Clock(at_ny(moment)))
    welcomed = [p.name.split("-", 1)[1] for p in emls(campaign_dir, "2027-08-31")]
    assert welcomed == ["after@example.org.eml"]
    assert "early@example.org" in recipients(campaign_dir, "2027-09-03")
    assert "after@example.org" not in recipients(campaign_dir, "2027-09-03")
    assert "after@example.org" in recipients(campaign_dir, "2027-09-04")
    # per reader, at most one series email per calendar day (New York)
    for reader in ("early@example.org", "after@example.org"):
        days = [
            date_header(p).astimezone(at_ny("2027-09-01 00:00").tzinfo).date()
            for p in sorted(campaign_dir.outbox.rglob(f"*-{reader}.eml"))
        ]
        assert len(days) == len(set(days)), (reader, days)
    store = campaign_dir.store()
    try:
        assert store.welcome_status(store.subscriber_by_email("early@example.org").id) == "skipped"
    finally:
        store.close()


def test_welcome_is_held_while_paused(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  late_joiners: welcome")
    import_people(campaign_dir, people(1))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:00:10")))
    import_people(campaign_dir, [{"email": "late@example.org"}])
    set_joined_at(campaign_dir, "late@example.org", at_ny("2027-09-01 12:00"))
    _pause(campaign_dir, "news", at_ny("2027-09-01 12:30"))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 13:00")))
    assert emls(campaign_dir, "2027-08-31") == []
    store = campaign_dir.store()
    end_pause(store, now=at_ny("2027-09-01 14:00"), catch_up=False)
    store.close()
    run_once(campaign_dir, Clock(at_ny("2027-09-01 14:01")))
    assert len(emls(campaign_dir, "2027-08-31")) == 1
    assert (
        timedelta(0)
        <= date_header(emls(campaign_dir, "2027-08-31")[0]) - at_ny("2027-09-01 14:01")
        < timedelta(seconds=5)
    )
