"""Issue 21: `late_joiners: from_start` — every reader gets the whole article, in order, from part 1.

The real `campaign run --rehearse` plays sign-ups by their imported `joined_at` (a pre-registration joins at
that moment) through the outbox; each reader's `.eml` files are read back: which part (the outbox folder is
the part's day), its Date header in the reader's zone, and the article paragraphs its text part holds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.scheduler_helpers import NY, article_paragraphs, at_ny, emls, ledger, message, plain_text

ZONES = ["America/Los_Angeles", "America/New_York", "Europe/London", "Asia/Tokyo", "Pacific/Auckland"]


def _readers() -> list[dict]:
    """20 readers from before the series; 20 joining from 3 to 28 September, at all hours, in five zones."""
    rows = [{"email": f"early{i:02d}@example.org", "timezone": ZONES[i % 5]} for i in range(20)]
    for i in range(20):
        zone = ZoneInfo(ZONES[i % 5])
        day = 3 + (i * 25) // 19  # 3 … 28 September
        joined = datetime(2027, 9, day, (i * 7) % 24, (i * 13) % 60, tzinfo=zone)
        if i == 5:  # Los Angeles, after New York's 09:00 and before their own: local time starts them that day
            joined = joined.replace(hour=7, minute=30)
        rows.append({"email": f"late{i:02d}@example.org", "timezone": ZONES[i % 5], "joined_at": joined.isoformat()})
    return rows


def _parts(cdir) -> dict[str, list[tuple[int, datetime, str]]]:
    """reader → [(part number, sent at, text part)], in the order they were sent."""
    days = sorted(p.name for p in cdir.outbox.iterdir() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name))
    numbers = {d: n for n, d in enumerate(days, 1)}
    out: dict[str, list] = defaultdict(list)
    for day in days:
        for path in emls(cdir, day):
            msg = message(path)
            to = re.search(r"[\w.+-]+@[\w.-]+", msg["To"]).group(0)
            out[to].append((numbers[day], _date(msg), plain_text(path)))
    return {who: sorted(got, key=lambda p: p[1]) for who, got in out.items()}


def _date(msg) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(msg["Date"])


def _first_send_time_after(joined: datetime, zone: ZoneInfo, local: bool) -> datetime:
    """09:00 in the reader's zone (local_time) or New York's, the first one after `joined`."""
    tz = zone if local else NY
    mine = joined.astimezone(tz)
    at = datetime.combine(mine.date(), datetime.min.time().replace(hour=9), tzinfo=tz)
    return at if at >= mine else datetime.combine(mine.date() + timedelta(days=1), at.timetz())


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["campaign_time", "local_time"])
def test_a_rehearsal_gives_every_reader_every_part_once_in_order_from_their_first_send_time(campaign_dir, delivery):
    campaign_dir.edit_schedule(
        "default_country: US", f"default_country: US\n  late_joiners: from_start\n  delivery: {delivery}"
    )
    readers = _readers()
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(readers)), check=True)
    result = campaign_dir.run("run", "--rehearse", "--seconds", "15", check=True, timeout=400)
    assert "rehearsal done" in result.stdout and "Traceback" not in result.stderr
    parts = _parts(campaign_dir)
    total = len(campaign_dir.project().schedule.dates)
    local = delivery == "local_time"
    paragraphs = article_paragraphs(campaign_dir)
    assert len(paragraphs) > 30
    last_join = max(datetime.fromisoformat(r["joined_at"]) for r in readers if "joined_at" in r)
    last_send = max(at for got in parts.values() for _, at, _ in got)
    for row in readers:
        who, zone = row["email"], ZoneInfo(row["timezone"])
        got = parts[who]
        assert [n for n, _, _ in got] == list(range(1, total + 1)), who  # every part once, in order
        local_days = [at.astimezone(zone if local else NY).date() for _, at, _ in got]
        assert len(set(local_days)) == total, (who, local_days)  # never two on one (local) day
        if "joined_at" in row:
            joined = datetime.fromisoformat(row["joined_at"])
            late = (got[0][1] - _first_send_time_after(joined, zone, local)).total_seconds()
            assert 0 <= late < 60, (who, joined, got[0][1])  # a Date may trail its second by the send's duration
        elif not local:
            assert 0 <= (got[0][1] - at_ny("2027-09-01 09:00")).total_seconds() < 60, who
        text = " ".join(" ".join(body.split()) for _, _, body in got)
        for paragraph in paragraphs:  # every paragraph of the article, exactly once, in this reader's emails
            assert text.count(paragraph) == 1, (who, paragraph)
    assert last_send.date() <= (last_join + timedelta(days=total)).astimezone(UTC).date() + timedelta(days=1)
    assert last_send.astimezone(ZoneInfo("Pacific/Auckland")).date() <= last_join.date() + timedelta(days=total)
    assert {status for _, _, status in ledger(campaign_dir)} == {"sent"}  # nothing left postponed or ready
    status = campaign_dir.run("status", check=True).stdout
    assert "behind: 0" in " ".join(status.split())


def test_from_start_settings_are_validated_with_file_line_and_field(campaign_dir):
    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  welcome: true")
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message_ = " ".join(result.stderr.split())
    assert re.search(r"schedule\.yaml:\d+: campaign\.welcome: .*late_joiners: from_start", message_), message_
    campaign_dir.edit_schedule(
        "  welcome: true", "  late_joiners: from_start\n  personal_pause: skip\n  welcome: maybe"
    )
    result = campaign_dir.run("validate")
    message_ = " ".join(result.stderr.split())
    assert result.returncode == 2 and "campaign.personal_pause:" in message_ and "campaign.welcome:" in message_
    campaign_dir.edit_schedule("  late_joiners: from_start", "  late_joiners: from_the_top")
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "campaign.late_joiners:" in " ".join(result.stderr.split())


def test_status_shows_readers_per_part_who_is_behind_the_last_date_and_one_readers_parts(campaign_dir):
    from campaign.cli.status_table import reader_table, status_table
    from campaign.clock import Clock
    from tests.conftest import people
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  late_joiners: from_start")
    import_people(campaign_dir, people(2))
    import_people(campaign_dir, [{"email": "late@example.org"}])
    set_joined_at(campaign_dir, "late@example.org", at_ny("2027-09-03 12:00"))
    for day in (1, 2, 3, 4):
        run_once(campaign_dir, Clock(at_ny(f"2027-09-0{day} 09:00:10")))
    got = {d: sorted(a for _, a, s in ledger(campaign_dir, date(2027, 9, d)) if s == "sent") for d in (1, 2, 3, 4)}
    assert "late@example.org" in got[1] and all("late@example.org" not in got[d] for d in (2, 3, 4))
    assert len(emls(campaign_dir, "2027-09-01")) == 3  # the late joiner's part 1 went out on 4 September
    project, store = campaign_dir.project(), campaign_dir.store()
    try:
        now = at_ny("2027-09-04 12:00")
        text = " ".join(" ".join(str(x) for x in status_table(project, store, now=now)[1:]).split())
        assert "readers by parts had: 1: 1 · 4: 2" in text, text
        assert "behind: 1 reader(s)" in text and "last part goes out on 2027-10-03" in text, text
        (table,) = reader_table(project, store, "late@example.org", now=now)
        rows = list(zip(*(c._cells for c in table.columns), strict=True))
        assert rows[0][2] == "sent" and rows[0][3].startswith("2027-09-04 09:00")
        assert rows[1][2] == "next (postponed)" and rows[1][3].startswith("2027-09-05 09:00")
        assert rows[29][3].startswith("2027-10-03 09:00")  # part 30, one a day from the next
        assert reader_table(project, store, "nobody@example.org", now=now) == []
    finally:
        store.close()
    result = campaign_dir.run("status", "--subscriber", "late@example.org", check=True)
    assert "next (postponed)" in result.stdout
    missing = campaign_dir.run("status", "--subscriber", "nobody@example.org")
    assert missing.returncode == 2 and "--subscriber" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_kill_9_mid_send_time_leaves_no_duplicate_and_no_skipped_part_and_a_pause_postpones_a_late_joiner(
    campaign_dir,
):
    """The rehearsal is killed while late joiners' part 1 is being written (21 September), then run again to
    the end. Every (reader, part) has one ledger row and at most one email; every part is sent, or — only for
    the batch that was in flight at the kill — unknown, for the operator (never resent blindly, never lost)."""
    import signal
    import subprocess
    import time

    from tests.conftest import CAMPAIGN_BIN
    from tests.scheduler_helpers import recipients

    campaign_dir.edit_schedule("default_country: US", "default_country: US\n  late_joiners: from_start")
    early = [{"email": f"early{i:03d}@example.org"} for i in range(100)]
    late = [{"email": f"late{i:03d}@example.org", "joined_at": "2027-09-20T12:00:00-04:00"} for i in range(100)]
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(early + late)), check=True)
    store = campaign_dir.store()
    try:  # a from-start reader paused (their own 7-day pause) until the evening of 25 September
        store.pause_subscriber(store.subscriber_by_email("late099@example.org").id, at_ny("2027-09-25 18:00"))
    finally:
        store.close()
    process = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run", "--rehearse", "--seconds", "10"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while len(emls(campaign_dir, "2027-09-01")) <= 100:  # the 100 early readers had part 1 on 1 September
            assert process.poll() is None and time.monotonic() < deadline, "the rehearsal ended before the kill"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    again = campaign_dir.run("run", "--rehearse", "--seconds", "10", timeout=300)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    rows = ledger(campaign_dir)
    by_reader: dict[str, dict[date, str]] = defaultdict(dict)
    for day, who, status in rows:
        assert day not in by_reader[who], (who, day)  # one row per (reader, part)
        by_reader[who][day] = status
    days = campaign_dir.project().schedule.dates
    unknown = [(who, day) for who, parts in by_reader.items() for day, s in parts.items() if s == "unknown"]
    assert len({day for _, day in unknown}) <= 1  # at most the one batch in flight at the kill
    for who in [r["email"] for r in early + late]:
        assert sorted(by_reader[who]) == days, who  # no part skipped
        assert set(by_reader[who].values()) <= {"sent", "unknown"}, who
    for day in days:
        recipients(campaign_dir, day.isoformat())  # asserts nobody has a part twice in the outbox
    sent_on = {d: {a: at for a, at in recipients(campaign_dir, d.isoformat()).items()} for d in days}
    paused = [
        sent_on[d]["late099@example.org"].astimezone(NY).date()
        for d in days
        if by_reader["late099@example.org"][d] == "sent"
    ]
    assert paused[0] == date(2027, 9, 26)  # the pause held part 1 (due 21 Sept); then one a day, in order
    assert all((paused[i] - paused[i - 1]).days >= 1 for i in range(1, len(paused)))


def test_welcome_true_welcomes_a_late_joiner_first_unless_part_1_reaches_them_the_same_day(campaign_dir):
    from campaign.clock import Clock
    from tests.conftest import people
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    campaign_dir.edit_schedule(
        "default_country: US", "default_country: US\n  late_joiners: from_start\n  welcome: true"
    )
    import_people(campaign_dir, people(1))
    import_people(campaign_dir, [{"email": "evening@example.org"}, {"email": "morning@example.org"}])
    set_joined_at(campaign_dir, "evening@example.org", at_ny("2027-09-02 20:00"))
    set_joined_at(campaign_dir, "morning@example.org", at_ny("2027-09-03 08:00"))
    run_once(campaign_dir, Clock(at_ny("2027-09-01 09:00:10")))
    run_once(campaign_dir, Clock(at_ny("2027-09-02 09:00:10")))
    run_once(campaign_dir, Clock(at_ny("2027-09-02 20:30")))  # the evening joiner's part 1 comes tomorrow
    run_once(campaign_dir, Clock(at_ny("2027-09-03 08:30")))  # the morning joiner's comes at 09:00 today
    welcomes = {re.search(r"[\w.+-]+@[\w.-]+", message(p)["To"]).group(0): p for p in emls(campaign_dir, "2027-08-31")}
    assert set(welcomes) == {"evening@example.org"}  # not the morning joiner (nor before they joined)
    text = " ".join(plain_text(welcomes["evening@example.org"]).split())
    assert "Your first part, day 1, arrives on Friday 3 September." in text
    assert "You get every part, from the first" in text and "parts you missed" not in text
    run_once(campaign_dir, Clock(at_ny("2027-09-03 09:00:10")))
    part_1 = {re.search(r"[\w.+-]+@[\w.-]+", message(p)["To"]).group(0) for p in emls(campaign_dir, "2027-09-01")}
    assert part_1 == {"reader00001@example.org", "evening@example.org", "morning@example.org"}
    assert len(emls(campaign_dir, "2027-08-31")) == 1  # nobody welcomed twice, nor the morning joiner later


def test_from_start_is_the_pause_mechanism_idempotent_one_part_per_send_time_on_both_engines(db_url):
    """The ledger rule: a late joiner gets postponed rows for the days sent before they joined, in the same
    transaction as the send time's postponements; a send time tried again (a restart after kill -9) starts
    and advances nobody twice; after the last day, a reader who joined since starts at part 1."""
    from sqlalchemy import select

    from campaign.ledger.schema import deliveries, subscribers
    from campaign.ledger.states import POSTPONED, READY, SENT
    from campaign.ledger.store import Store

    store = Store.open(db_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(subscribers.insert().values(id=1, email="a@example.org", joined_at=at_ny("2027-08-01 12:00")))
            conn.execute(subscribers.insert().values(id=2, email="b@example.org", joined_at=at_ny("2027-09-02 12:00")))
            conn.execute(subscribers.insert().values(id=3, email="c@example.org", joined_at=at_ny("2027-09-05 12:00")))
        days = [date(2027, 9, d) for d in range(1, 5)]

        def states(sid):
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(deliveries.c.day, deliveries.c.status)
                    .where(deliveries.c.subscriber_id == sid)
                    .order_by(deliveries.c.day)
                )
                return [(r.day.day, r.status) for r in rows]

        def send(day: int) -> int:
            at = at_ny(f"2027-09-0{day} 09:00")
            return store.postpone(days[day - 1], at, days=days, at=at, from_start=True)

        assert send(1) == 0 and states(1) == [] and states(2) == []  # a is owed day 1 as usual
        with store.engine.begin() as conn:
            conn.execute(
                deliveries.insert().values(
                    day=days[0], subscriber_id=1, status=SENT, updated_at=at_ny("2027-09-01 09:00")
                )
            )
        assert send(2) == 0  # b joined after day 2's send time: nothing yet
        # day 4 went out before day 3 (a manual send out of order): b missed it too
        store.start(days[3], number=4, subject="Day 4", edition={"web_html": "<p>4</p>"}, at=at_ny("2027-09-02 10:00"))
        assert send(3) == 1 and send(3) == 0  # b starts: day 1 ready; tried again, nobody advances twice
        assert states(2) == [(1, READY), (2, POSTPONED), (3, POSTPONED), (4, POSTPONED)]
        assert states(1) == [(1, SENT)]  # a is not behind: day 3 goes to them as usual
        assert (
            store.count_waiting(days, joined_after=at_ny("2027-09-01 09:00"), joined_by=at_ny("2027-09-06 12:00")) == 1
        )
        # After the last day: c, who joined since, starts at part 1 — once per tail send time
        at = at_ny("2027-09-06 09:00")
        assert store.advance_tail("t1", days=days, at=at, from_start=True) == 1
        assert store.advance_tail("t1", days=days, at=at, from_start=True) == 0
        assert states(3) == [(1, READY), (2, POSTPONED), (3, POSTPONED), (4, POSTPONED)]
        assert store.count_behind(days, at=at, from_start=True) == 2
        assert store.part_counts(days) == {1: 1, 0: 2}
    finally:
        store.close()
