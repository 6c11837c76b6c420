"""Issue 9 #3: no bursts — a caught-up pause sends the held days one a day and moves the rest later."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from campaign.clock import Clock
from campaign.timing.catchup import postpone_after_pause
from campaign.timing.pause import end_pause, pause_series
from tests.conftest import people
from tests.scheduler_helpers import NY, at_ny, emls, import_people, recipients, run_once, running, wait_until
from tests.test_scheduler import _status_text


def _dates_by_reader(cdir, days) -> dict[str, dict[int, date]]:
    """reader → {day number: the calendar date (New York) its Date header says}."""
    out: dict[str, dict[int, date]] = defaultdict(dict)
    for number, day in enumerate(days, 1):
        for addr, sent in recipients(cdir, day.isoformat()).items():
            out[addr][number] = sent.astimezone(NY).date()
    return out


@pytest.mark.slow
def test_pause_over_days_4_to_6_then_catch_up_sends_them_on_three_successive_days_then_the_rest(campaign_dir):
    import_people(campaign_dir, people(3))
    for day in (1, 2, 3):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    store = campaign_dir.store()
    pause_series(store, "news coverage", now=at_ny("2027-09-03 18:00"))
    store.close()
    for day in (4, 5, 6):  # the scheduler runs through the pause: each day is skipped
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    assert "skipped" in _status_text(campaign_dir, at_ny("2027-09-06 12:00"))
    store = campaign_dir.store()
    window = end_pause(store, now=at_ny("2027-09-06 12:00"), catch_up=True)
    postpone_after_pause(campaign_dir.project(), store, window.since, window.until)
    store.close()
    status = _status_text(campaign_dir, at_ny("2027-09-06 12:00"))
    assert "07 Sep 09:00" in status and "03 Oct 09:00" in status and "skipped" not in status
    plan = campaign_dir.run("plan", env={"COLUMNS": "250"}, check=True).stdout
    assert "Tue 07 Sep (was 04 Sep)" in plan and "Sun 03 Oct (was 30 Sep)" in plan and "Fri 03 Sep" in plan
    # The rest of the series, played on a fast clock by the real scheduler.
    schedule = campaign_dir.project().schedule
    with running(campaign_dir, Clock(at_ny("2027-09-07 08:59"), speed=300_000), until="all"):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-30")) == 3, timeout=60, what="day 30 sent")
    by_reader = _dates_by_reader(campaign_dir, schedule.dates)
    assert len(by_reader) == 3
    for addr, dates in by_reader.items():
        assert sorted(dates) == list(range(1, 31)), addr
        assert [dates[n] for n in (4, 5, 6)] == [date(2027, 9, 7), date(2027, 9, 8), date(2027, 9, 9)], addr
        for n in range(2, 31):
            assert (dates[n] - dates[n - 1]).days >= 1, (addr, n)  # one a day, in order
        assert dates[30] == date(2027, 10, 3)
        assert len(set(dates.values())) == 30  # never two on one day
    assert dates[7] - dates[6] == timedelta(days=1)


@pytest.mark.slow
def test_local_time_with_a_caught_up_pause_and_a_late_joiner_never_sends_two_on_one_local_day(campaign_dir):
    from zoneinfo import ZoneInfo

    from tests.scheduler_helpers import set_joined_at

    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  delivery: local_time")
    zones = ["Pacific/Auckland", "America/New_York", "America/Los_Angeles", "Europe/London", ""]
    readers = [{"email": f"z{i}@example.org", "timezone": z} for i, z in enumerate(zones)]
    import_people(campaign_dir, readers)
    # Days 1–3 as usual (a day every two seconds), then a pause from the evening of day 3.
    clock = Clock(at_ny("2027-08-31 12:00"), speed=43_200)
    with running(campaign_dir, clock):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-03")) == 5, timeout=30, what="day 3 sent everywhere")
        store = campaign_dir.store()
        pause_series(store, "news", now=clock.now())
        store.close()
        wait_until(lambda: clock.now() > at_ny("2027-09-06 12:00"), timeout=30, what="three days paused")
    resumed = at_ny("2027-09-06 12:00")
    store = campaign_dir.store()
    window = end_pause(store, now=max(resumed, window_end := clock.now()), catch_up=True)
    moved = postpone_after_pause(campaign_dir.project(), store, window.since, window.until)
    store.close()
    assert moved and min(s.at for s in moved) > window_end
    import_people(campaign_dir, [{"email": "late@example.org", "timezone": "Asia/Tokyo"}])
    set_joined_at(campaign_dir, "late@example.org", window_end + timedelta(days=2))
    with running(campaign_dir, Clock(window_end, speed=300_000), until="all"):
        wait_until(lambda: len(emls(campaign_dir, "2027-09-30")) == 6, timeout=60, what="day 30 sent everywhere")
    schedule = campaign_dir.project().schedule
    by_reader: dict[str, list] = defaultdict(list)
    for day in schedule.dates:
        for addr, sent in recipients(campaign_dir, day.isoformat()).items():
            by_reader[addr].append(sent)
    tz_of = {r["email"]: ZoneInfo(r["timezone"] or "America/New_York") for r in readers}
    tz_of["late@example.org"] = ZoneInfo("Asia/Tokyo")
    for addr, dates in by_reader.items():
        local_days = [d.astimezone(tz_of[addr]).date() for d in dates]
        assert len(local_days) == len(set(local_days)), (addr, sorted(local_days))
    assert all(len(by_reader[r["email"]]) == 30 for r in readers)
    assert 0 < len(by_reader["late@example.org"]) < 30
