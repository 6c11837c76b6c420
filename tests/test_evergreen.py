"""Issue 21: `start: on_join` — the evergreen series: parts, not dates, from each reader's own day 1.

The real `campaign run --rehearse` plays sign-ups by their imported `joined_at` through the outbox; each
reader's `.eml` files are read back: which part (the outbox folder is the part's key), its Date header in the
reader's zone, and the article paragraphs its text part holds.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaign.series.parts import is_part_key, part_key, part_number
from tests.scheduler_helpers import article_paragraphs, emls, ledger, message, plain_text

ROOT = Path(__file__).resolve().parents[1]
ZONES = ["America/Los_Angeles", "America/New_York", "Europe/London", "Asia/Tokyo", "Pacific/Auckland"]
NY = ZoneInfo("America/New_York")


def evergreen(cdir, extra: str = "") -> None:
    """The shipped evergreen example as the folder's schedule.yaml, with `extra` settings."""
    shutil.copy(ROOT / "examples" / "evergreen" / "schedule.yaml", cdir.root / "schedule.yaml")
    if extra:
        cdir.edit_schedule("  start: on_join", "  start: on_join\n" + extra)


def _readers(n: int = 10) -> list[dict]:
    """`n` readers joining on different days (weekends too), at all hours, in five zones."""
    rows = []
    for i in range(n):
        zone = ZoneInfo(ZONES[i % 5])
        joined = datetime(2027, 3, 1 + i * 3 + i % 2, (i * 5 + 3) % 24, (i * 13) % 60, tzinfo=zone)
        rows.append({"email": f"r{i}@example.org", "timezone": ZONES[i % 5], "joined_at": joined.isoformat()})
    return rows


def _parts(cdir) -> dict[str, list[tuple[int, datetime, str]]]:
    """reader → [(part number, sent at, text part)] in the order they were sent."""
    out: dict[str, list] = defaultdict(list)
    for folder in sorted(p.name for p in cdir.outbox.iterdir() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name)):
        key = date.fromisoformat(folder)
        assert is_part_key(key), folder  # an evergreen series sends parts only
        for path in emls(cdir, folder):
            msg = message(path)
            to = re.search(r"[\w.+-]+@[\w.-]+", msg["To"]).group(0)
            out[to].append((part_number(key), _date(msg), plain_text(path)))
    return {who: sorted(got, key=lambda p: p[1]) for who, got in out.items()}


def _date(msg) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(msg["Date"])


def _first_send_after(joined: datetime, tz: ZoneInfo) -> datetime:
    mine = joined.astimezone(tz)
    on = mine.date() if mine.time() < datetime.min.time().replace(hour=9) else mine.date() + timedelta(days=1)
    return datetime.combine(on, datetime.min.time().replace(hour=9), tzinfo=tz)


def _first_weekday_send_after(joined: datetime, tz: ZoneInfo) -> datetime:
    """09:00 in `tz`, the first one after `joined` on a Monday–Friday of the reader's zone (checked by caller)."""
    mine = joined.astimezone(tz)
    on = mine.date() if mine.time() < datetime.min.time().replace(hour=9) else mine.date() + timedelta(days=1)
    while True:
        at = datetime.combine(on, datetime.min.time().replace(hour=9), tzinfo=tz)
        if at.weekday() < 5:
            return at
        on += timedelta(days=1)


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["local_time", "campaign_time"])
def test_an_evergreen_rehearsal_sends_parts_1_to_n_in_order_on_weekdays_of_each_readers_zone(campaign_dir, delivery):
    """Acceptance: start: on_join, send_days mon–fri, 10 readers joining on different days — no email on a
    Saturday or Sunday in the reader's zone, parts 1…N in order, once each. With campaign time the series also
    keeps two days between parts (days_between: 2)."""
    local = delivery == "local_time"
    evergreen(campaign_dir, f"  delivery: {delivery}" + ("" if local else "\n  days_between: 2"))
    readers = _readers()
    assert len({datetime.fromisoformat(r["joined_at"]).date() for r in readers}) == 10
    assert {datetime.fromisoformat(r["joined_at"]).weekday() for r in readers} >= {5, 6}  # weekend sign-ups too
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(readers)), check=True)
    result = campaign_dir.run("run", "--rehearse", "--seconds", "12", check=True, timeout=400)
    assert "rehearsal done" in result.stdout and "Traceback" not in result.stderr
    parts = _parts(campaign_dir)
    total = len(campaign_dir.project().schedule.dates)
    paragraphs = article_paragraphs(campaign_dir)
    assert total == 30 and len(paragraphs) > 30
    for row in readers:
        who, zone = row["email"], ZoneInfo(row["timezone"])
        got = parts[who]
        assert [n for n, _, _ in got] == list(range(1, total + 1)), who  # every part once, in order
        local_days = [at.astimezone(zone).date() for _, at, _ in got]
        assert all(d.weekday() < 5 for d in local_days), (who, [d for d in local_days if d.weekday() >= 5])
        assert len(set(local_days)) == total, who  # never two on one local day
        if not local:
            assert min((b - a).days for a, b in zip(local_days, local_days[1:])) >= 2, (who, local_days)
        joined = datetime.fromisoformat(row["joined_at"])
        if local:  # part 1 at their first weekday send time after joining
            assert 0 <= (got[0][1] - _first_weekday_send_after(joined, zone)).total_seconds() < 60, who
        else:  # 09:00 New York, the first after joining that is a weekday where the reader is
            at = _first_send_after(joined, NY)  # (a Sunday 09:00 in New York is Monday in Auckland)
            while at.astimezone(zone).weekday() >= 5:
                at = _first_send_after(at + timedelta(minutes=1), NY)
            assert 0 <= (got[0][1] - at).total_seconds() < 60, (who, got[0][1], at)
        text = " ".join(" ".join(body.split()) for _, _, body in got)
        for paragraph in paragraphs:  # every paragraph of the article, exactly once, in this reader's emails
            assert text.count(paragraph) == 1, (who, paragraph)
        assert "Part 1 of 30" in got[0][2] and "Day 1" not in got[0][2]
    assert {status for _, _, status in ledger(campaign_dir)} == {"sent"}
    status = " ".join(campaign_dir.run("status", check=True).stdout.split())
    assert "readers by parts had: all 30: 10" in status and "30 parts from each reader's join" in status


def test_an_edit_after_part_3_went_out_keeps_what_was_sent_and_later_readers_get_the_new_text(campaign_dir):
    """Acceptance: the first readers have had parts 1–3; the article is edited (a paragraph of part 2, already
    sent, and one of part 6, not sent) and a new reader joins. Nobody gets anything twice; the new reader gets
    part 6's new text; everyone's emails hold every block of the current article — or, for part 2, the version
    that went out — exactly once."""
    from campaign.clock import Clock
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    evergreen(campaign_dir)
    import_people(campaign_dir, [{"email": f"first{i}@example.org"} for i in range(3)])
    for i in range(3):
        set_joined_at(campaign_dir, f"first{i}@example.org", datetime(2027, 3, 1, 8, 0, tzinfo=NY))
    for day in (1, 2, 3):  # Monday to Wednesday 1–3 March: parts 1, 2 and 3
        run_once(campaign_dir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
    sent = [(part_number(d), a) for d, a, s in ledger(campaign_dir) if s == "sent"]
    assert sorted(n for n, _ in sent) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    project = campaign_dir.project()
    sent_blocks = [b for n in (3, 2) for b in project.plan.part_for(part_key(n)).blocks if b.kind == "paragraph"]
    old2 = sent_blocks[0]  # a paragraph of a part the first readers have had
    old6 = next(b for b in project.plan.part_for(part_key(6)).blocks if b.kind == "paragraph")
    article = campaign_dir.root / "content" / "article.md"
    text = article.read_text(encoding="utf-8")
    assert text.count(old2.source) == 1 and text.count(old6.source) == 1
    new2 = "Edited after it went out: " + old2.source
    new6 = "Newly written for later readers: " + old6.source
    article.write_text(text.replace(old2.source, new2).replace(old6.source, new6), encoding="utf-8")
    validated = campaign_dir.run("validate")
    assert validated.returncode == 0, validated.stderr
    assert "went out with an earlier version" in validated.stderr  # the edit of a sent block is reported
    import_people(campaign_dir, [{"email": "later@example.org"}])
    set_joined_at(campaign_dir, "later@example.org", datetime(2027, 3, 3, 12, 0, tzinfo=NY))
    day = date(2027, 3, 4)
    while len([s for _, _, s in ledger(campaign_dir) if s == "sent"]) < 4 * 30:  # `campaign run` on each send day
        assert day < date(2027, 6, 1), "the parts did not all go out"
        if day.weekday() < 5:
            run_once(campaign_dir, Clock(datetime.combine(day, datetime.min.time().replace(hour=9, second=10), NY)))
        day += timedelta(days=1)
    parts = _parts(campaign_dir)
    paragraphs = article_paragraphs(campaign_dir)
    first2, first6 = " ".join(old2.source.split())[:60], " ".join(new6.split())[:60]
    for who in [f"first{i}@example.org" for i in range(3)] + ["later@example.org"]:
        got = parts[who]
        assert [n for n, _, _ in got] == list(range(1, 31)), who  # nothing twice, nothing skipped
        body = " ".join(" ".join(b.split()) for _, _, b in got)
        assert body.count(first2) == 1 and "Edited after it went out" not in body, who  # part 2 as sent
        assert body.count(first6) == 1, who  # part 6 went out after the edit: its new text
        for paragraph in paragraphs:
            if paragraph.startswith("Edited after it went out"):
                continue  # the current version of a block sent before the edit: its as-sent version instead
            assert body.count(paragraph) == 1, (who, paragraph)
    later = [d for d, a, s in ledger(campaign_dir) if a == "later@example.org" and s == "sent"]
    assert len(later) == 30


def test_the_schedule_lists_parts_and_every_mistake_is_named_with_its_line(campaign_dir):
    evergreen(campaign_dir)
    ok = campaign_dir.run("validate", check=True)
    assert "ok: 30 parts" in ok.stdout
    assert "lint: part 3 article line" in ok.stderr and "1900" not in ok.stdout + ok.stderr  # the lint names parts
    plan = campaign_dir.run("plan", check=True).stdout
    assert "Part" in plan and "1900" not in plan and "Jan" not in plan
    built = campaign_dir.run("build", "--out", "built", check=True)
    assert "built 30 issues" in built.stdout
    assert (campaign_dir.root / "built" / "part-01" / "email.html").exists()
    index = (campaign_dir.root / "built" / "index.html").read_text(encoding="utf-8")
    assert "part 30" in index and "1900" not in index
    html = (campaign_dir.root / "built" / "part-05" / "email.html").read_text(encoding="utf-8")
    assert "/archive/part-5" in html and "1900" not in html and "Part 5 of 30" in html
    text = (campaign_dir.root / "schedule.yaml").read_text(encoding="utf-8")
    cases = [
        (text.replace("parts:\n", "days:\n  2027-09-01:\n    subject: x\nparts:\n", 1), r"days: start: on_join lists"),
        (text.replace('  - subject: "Why we talk about mental health"', '  - subject: ""'), r"parts\[1\]\.subject:"),
        (text.replace("  send_days: [mon,", "  send_days: [caturday,"), r"campaign\.send_days\[0\]:"),
        (text.replace("  start: on_join", "  start: on_join\n  days_between: 0"), r"campaign\.days_between:"),
        (
            text.replace("  start: on_join", "  start: on_join\n  personal_pause: skip"),
            r"campaign\.personal_pause: start: on_join",
        ),
        (text.replace("  start: on_join", "  start: on_join\n  welcome: true"), r"campaign\.welcome:"),
        (re.sub(r"(?m)^  start: on_join.*\n", "", text), r"parts: parts: is for start: on_join"),
        (
            text.replace("    part: 5\n", "    part: 5\n    day: 2027-09-05\n"),
            r"acknowledgements\[0\]: write either day",
        ),
        (text.replace("    part: 5\n", "    day: 2027-09-05\n"), r"acknowledgements\[0\]\.day: .*write part: N"),
    ]
    for broken, expected in cases:
        (campaign_dir.root / "schedule.yaml").write_text(broken, encoding="utf-8")
        result = campaign_dir.run("validate")
        said = " ".join(result.stderr.split())
        assert result.returncode == 2 and "Traceback" not in said, (expected, said)
        assert re.search(r"schedule\.yaml:\d+: " + expected, said), (expected, said)


def test_calendar_settings_and_dates_keep_out_of_the_parts(campaign_dir):
    """send_days and days_between belong to start: on_join; a calendar date in 1900 (the parts' keys) is
    refused; a URL of a part or a date is read strictly."""
    from campaign.series.parts import from_url

    for setting in ("send_days: [mon]", "days_between: 2"):
        campaign_dir.edit_schedule("default_country: US", f"default_country: US\n  {setting}")
        result = campaign_dir.run("validate")
        assert result.returncode == 2 and "applies to start: on_join" in " ".join(result.stderr.split())
        campaign_dir.edit_schedule(f"\n  {setting}", "")
    campaign_dir.edit_schedule("2027-09-01:", "1900-09-01:")
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "1900-09-01 is before 2000" in result.stderr
    assert from_url("part-3") == part_key(3) and from_url("2027-09-05") == date(2027, 9, 5)
    for bad in (
        "part-0",
        "part-999",
        "part-03x",
        "1900-01-03",
        "part-٣",
        "part-1٣",
        "٢٠٢٧-09-05",
        "2027-02-30",
        "../part-1",
    ):
        assert from_url(bad) is None, bad


def test_send_n_never_sends_a_part_to_everyone_and_status_shows_where_readers_are(campaign_dir):
    from campaign.clock import Clock
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    evergreen(campaign_dir)
    import_people(campaign_dir, [{"email": "ana@bücher.de"}, {"email": "ben@example.org"}])
    set_joined_at(campaign_dir, "ana@bücher.de", datetime(2027, 3, 1, 8, 0, tzinfo=NY))
    set_joined_at(campaign_dir, "ben@example.org", datetime(2027, 3, 2, 8, 0, tzinfo=NY))
    for day in (1, 2):
        run_once(campaign_dir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
    refused = campaign_dir.run("send", "3", "--yes")
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "part 3 of an evergreen series" in said and "Traceback" not in said
    assert campaign_dir.run("send", "3", "--dry-run").returncode == 2
    test_copy = campaign_dir.run("send", "3", "--to", "me@example.org", check=True)
    assert "test copy of part 3" in test_copy.stdout
    settle = campaign_dir.run("send", "2", "--retry-failed", check=True)  # nothing failed: nothing sent
    assert "part 2: sent 0" in settle.stdout
    sent = sorted((part_number(d), a) for d, a, s in ledger(campaign_dir) if s == "sent")
    assert sent == [(1, "ana@bücher.de"), (1, "ben@example.org"), (2, "ana@bücher.de")]
    status = " ".join(campaign_dir.run("status", check=True).stdout.split())
    assert "readers by parts had: 1: 1 · 2: 1" in status, status
    reader = campaign_dir.run("status", "--subscriber", "ben@example.org", check=True).stdout
    assert "next (postponed)" in reader and "part 2" in reader and "1900" not in reader


def test_the_studio_lists_and_edits_parts(campaign_dir):
    """The studio's JSON names parts (no dates), a save writes the part's entry under parts:, and an edit of
    part 1 (anyone may join before the next send time) waits for approval."""
    from tests.studio_helpers import make_studio

    evergreen(campaign_dir)
    studio = make_studio(campaign_dir)
    try:
        client, csrf = studio.signed_in("editor@example.org")
        listed = client.get("/studio/api/days").get_json()
        fourth = listed["days"][3]
        assert fourth["label"] == "part 4" and fourth["send_at"] is None
        saved = client.put(
            f"/studio/api/days/{fourth['date']}",
            json={"subject": "A new subject for part four"},
            headers={"If-Match": listed["etag"], "X-CSRF-Token": csrf},
        )
        assert saved.status_code == 200, saved.get_json()
        held = client.put(
            f"/studio/api/days/{listed['days'][0]['date']}",
            json={"subject": "A new first subject"},
            headers={"If-Match": saved.get_json()["etag"], "X-CSRF-Token": csrf},
        )
        assert held.status_code == 202 and held.get_json()["held"], held.get_json()
        page = client.get(f"/studio/days/{fourth['date']}").get_data(as_text=True)
        assert "Part 4" in page and "1900" not in page and "own send time" in page
        overview = client.get("/studio/").get_data(as_text=True)
        assert "Part 30" in overview and "1900" not in overview
    finally:
        studio.store.close()
    text = (campaign_dir.root / "schedule.yaml").read_text(encoding="utf-8")
    assert '  - subject: "A new subject for part four"' in text
    assert campaign_dir.project().schedule.days[part_key(4)].subject == "A new subject for part four"


def test_a_database_that_sent_a_calendar_series_refuses_to_continue_as_an_evergreen_one(campaign_dir):
    from tests.conftest import people
    from tests.scheduler_helpers import import_people

    import_people(campaign_dir, people(2))
    campaign_dir.run("send", "1", "--yes", check=True)
    evergreen(campaign_dir)
    for command in (("validate",), ("plan",), ("run", "--once")):
        result = campaign_dir.run(*command)
        said = " ".join(result.stderr.split())
        assert result.returncode == 2 and "Traceback" not in said, (command, said)
        assert "campaign.start: this database has sent calendar days" in said and "CAMPAIGN_DATABASE_URL" in said


def test_the_archive_the_pages_and_the_operators_report_name_parts_not_dates(campaign_dir):
    import requests

    from campaign.clock import Clock
    from campaign.timing.report import evergreen_report_text
    from tests.scheduler_helpers import import_people, run_once, set_joined_at
    from tests.web_live import live_web

    evergreen(campaign_dir)
    import_people(campaign_dir, [{"email": "ana@bücher.de"}])
    set_joined_at(campaign_dir, "ana@bücher.de", datetime(2027, 3, 1, 8, 0, tzinfo=NY))
    with live_web(campaign_dir) as web:
        home = requests.get(f"{web.url}/", timeout=10).text
        assert "from the first part" in home and "through September" not in home
        for day in (1, 2):
            run_once(campaign_dir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
        index = requests.get(f"{web.url}/archive/", timeout=10).text
        assert 'href="/archive/part-1"' in index and "part 2" in index and "1900" not in index
        page = requests.get(f"{web.url}/archive/part-2", timeout=10)
        subject = campaign_dir.project().schedule.days[part_key(2)].subject
        assert page.status_code == 200 and subject in page.text and "Part 2 of 30" in page.text
        (eml,) = emls(campaign_dir, part_key(2).isoformat())
        assert f"View in your browser: {web.url}/archive/part-2" in plain_text(eml)
        for missing in ("part-3", "1900-01-02", "part-0", "part-1x"):
            assert requests.get(f"{web.url}/archive/{missing}", timeout=10).status_code == 404, missing
    store = campaign_dir.store()
    try:
        text, figures = evergreen_report_text(campaign_dir.project(), store, now=datetime(2027, 3, 2, 10, tzinfo=NY))
    finally:
        store.close()
    assert "Readers by parts had: 2: 1" in text and figures["series"]["sent"] == 2 and "1900" not in text


def test_days_between_send_days_and_a_readers_own_pause_hold_on_both_engines(any_campaign_dir):
    """Three readers who joined on Sunday 28 February: with days_between: 2 and weekdays only, parts go out on
    Monday, Wednesday, Friday, Monday …; a reader on their own pause gets nothing until it ends, then resumes
    at part 1; an unsubscribed reader gets nothing. Every send time run twice (a restart) advances nobody twice."""
    from campaign.clock import Clock
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    cdir = any_campaign_dir
    evergreen(cdir, "  days_between: 2")
    import_people(cdir, [{"email": e} for e in ("ana@example.org", "ben@example.org", "cy@example.org", "dee@x.org")])
    for who in ("ana@example.org", "ben@example.org", "cy@example.org", "dee@x.org"):
        set_joined_at(cdir, who, datetime(2027, 2, 28, 12, 0, tzinfo=NY))
    store = cdir.store()
    try:
        store.pause_subscriber(store.subscriber_by_email("cy@example.org").id, datetime(2027, 3, 4, 18, 0, tzinfo=NY))
        store.suppress(store.subscriber_by_email("dee@x.org").id, "unsubscribed", "a test")
    finally:
        store.close()
    for day in range(1, 13):  # 1–12 March 2027 (Monday to Friday of the next week)
        for _ in range(2):
            run_once(cdir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
    got: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, who, status in ledger(cdir):
        if status == "sent":
            got[who].append(part_number(key))
    sent_on = {}
    for folder in cdir.outbox.iterdir():
        for path in folder.glob("*.eml"):
            msg = message(path)
            to = re.search(r"[\w.+-]+@[\w.-]+", msg["To"]).group(0)
            sent_on.setdefault(to, []).append(
                (_date(msg).astimezone(NY).day, part_number(date.fromisoformat(folder.name)))
            )
    assert sorted(sent_on["ben@example.org"]) == [(1, 1), (3, 2), (5, 3), (8, 4), (10, 5), (12, 6)]
    assert sorted(sent_on["ana@example.org"]) == sorted(sent_on["ben@example.org"])
    assert sorted(sent_on["cy@example.org"]) == [(5, 1), (8, 2), (10, 3), (12, 4)]  # after their pause ended
    assert "dee@x.org" not in sent_on and "dee@x.org" not in got
    assert sorted(got["ben@example.org"]) == [1, 2, 3, 4, 5, 6]


def test_hostile_parts_lists_fail_alone_with_their_line(campaign_dir):
    """A mapping instead of a list, an entry that is not a mapping, 400 parts, a control character in a
    subject: each is named with its line, exit 2, nothing written. A part's preview goes to part-03/."""
    evergreen(campaign_dir)
    path = campaign_dir.root / "schedule.yaml"
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("parts:\n")]
    entry = '  - subject: "A part"\n    preheader: "One more part."\n'
    cases = [
        (head + "parts:\n  first: {subject: x}\n", r"parts: parts: must be a list"),
        (head + "parts:\n  - just a string\n" + entry, r"parts\[0\]: "),
        (head + "parts:\n" + entry * 400, r"parts: 400 parts, over 365"),
        (head + "parts:\n" + entry + '  - subject: "Bell \\a here"\n', r"parts\[1\]\.subject: "),
        (head + "parts: []\n", r"parts: parts: must be a list"),
    ]
    for broken, expected in cases:
        path.write_text(broken, encoding="utf-8")
        result = campaign_dir.run("validate")
        said = " ".join(result.stderr.split())
        assert result.returncode == 2 and "Traceback" not in said, (expected, said)
        assert re.search(r"schedule\.yaml:\d+: " + expected, said), (expected, said)
    path.write_text(text, encoding="utf-8")
    shown = campaign_dir.run("preview", "3", check=True).stdout.strip()
    assert shown.endswith("part-03/email.html") and Path(campaign_dir.root / shown).exists()
    assert campaign_dir.run("preview", "31").returncode == 2
    assert "there is no part 31 (the series has 30 parts)" in " ".join(campaign_dir.run("preview", "31").stderr.split())


def test_an_evergreen_series_always_needs_its_scheduler_and_status_json_lists_parts(campaign_dir):
    """/healthz's rule: a calendar series needs a scheduler only around September; an evergreen one always —
    a scheduler that never ran (or died) is unhealthy in any month. `status --json` lists parts, not days."""
    import json

    from campaign.timing.figures import scheduler_health

    store = campaign_dir.store()
    try:
        december = datetime(2027, 12, 6, 12, 0, tzinfo=NY)
        assert scheduler_health(campaign_dir.project(), store, now=december) is None  # September is over
        evergreen(campaign_dir)
        said = scheduler_health(campaign_dir.project(), store, now=december)
        assert said is not None and "no scheduler has run" in said
    finally:
        store.close()
    figures = json.loads(campaign_dir.run("status", "--json", check=True).stdout)
    assert [p["part"] for p in figures["days"]] == list(range(1, 31))
    assert {p["state"] for p in figures["days"]} == {"not started"} and figures["next_send"]


def test_a_part_added_later_reaches_readers_who_finished_and_readers_in_progress(campaign_dir):
    """Three parts; Ana has had all three, Ben one. The organiser appends a paragraph to the article and a
    fourth part: Ana gets part 4 at her next send time, Ben parts 2, 3 and 4 in order — nobody is left out of
    text added after they started, and nobody gets anything twice."""
    from campaign.clock import Clock
    from tests.scheduler_helpers import import_people, run_once, set_joined_at

    evergreen(campaign_dir)
    path = campaign_dir.root / "schedule.yaml"
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("parts:\n")].replace("  send_days: [mon, tue, wed, thu, fri]", "  send_days: null")
    entries = "".join(f'  - subject: "Part {n} of the short course"\n    preheader: "Part {n}."\n' for n in (1, 2, 3))
    path.write_text(head + "parts:\n" + entries, encoding="utf-8")
    import_people(campaign_dir, [{"email": "ana@example.org"}, {"email": "ben@example.org"}])
    set_joined_at(campaign_dir, "ana@example.org", datetime(2027, 3, 1, 8, 0, tzinfo=NY))
    set_joined_at(campaign_dir, "ben@example.org", datetime(2027, 3, 3, 8, 0, tzinfo=NY))
    for day in (1, 2, 3):
        run_once(campaign_dir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
    article = campaign_dir.root / "content" / "article.md"
    added = "A paragraph written after the first readers finished, for every reader of the course."
    article.write_text(article.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + added + "\n", encoding="utf-8")
    path.write_text(
        head + "parts:\n" + entries + '  - subject: "Part 4, added later"\n    preheader: "New."\n', "utf-8"
    )
    assert campaign_dir.run("validate").returncode == 0
    run_once(campaign_dir, Clock(datetime(2027, 3, 3, 9, 30, tzinfo=NY)))  # the same send time, after the edit
    assert len([r for r in ledger(campaign_dir) if r[2] == "sent"]) == 3 + 1, "a send time ran twice"
    for day in (4, 5, 6, 7, 8):
        run_once(campaign_dir, Clock(datetime(2027, 3, day, 9, 0, 10, tzinfo=NY)))
    sent: dict[str, list[int]] = defaultdict(list)
    for key, who, status in sorted(ledger(campaign_dir), key=lambda r: r[0]):
        if status == "sent":
            sent[who].append(part_number(key))
    assert sent == {"ana@example.org": [1, 2, 3, 4], "ben@example.org": [1, 2, 3, 4]}, dict(sent)
    (ana4,) = [p for p in emls(campaign_dir, part_key(4).isoformat()) if "ana@" in message(p)["To"]]
    assert added in " ".join(plain_text(ana4).split())
