"""series/edit.py: round-trip edits of schedule.yaml's text (comments, order and quoting kept, only the edited
lines change) and the ETag-guarded atomic write."""

from __future__ import annotations

import difflib
import threading
from datetime import date
from pathlib import Path

import pytest

from campaign.errors import EditConflict, ScheduleError
from campaign.series.edit import day_fields, etag_of, set_day_fields, write_if_unchanged
from campaign.series.schedule import parse_schedule
from tests.conftest import REPO

TEXT = (REPO / "schedule.yaml").read_text(encoding="utf-8")
D12, D21 = date(2027, 9, 12), date(2027, 9, 21)


def changed(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_changing_a_subject_changes_exactly_that_line():
    new = set_day_fields(TEXT, D12, {"subject": "Living with PTSD: compassion helps"})
    assert changed(TEXT, new) == [
        '-    subject: "Understanding PTSD with compassion"',
        '+    subject: "Living with PTSD: compassion helps"',
    ]
    assert parse_schedule(new).schedule.days[D12].subject == "Living with PTSD: compassion helps"


def test_every_comment_and_the_key_order_are_kept():
    new = set_day_fields(TEXT, D12, {"subject": "A", "preheader": "B", "note": "C"})
    comments = [line for line in TEXT.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in new.splitlines() if line.lstrip().startswith("#")] == comments
    assert len(changed(TEXT, new)) == 6


def test_an_unchanged_value_is_left_as_written():
    assert set_day_fields(TEXT, D12, day_fields(TEXT, D12)) == TEXT


def test_a_new_note_goes_after_the_preheader_and_a_following_comment_stays_after_the_day():
    new = set_day_fields(TEXT, D21, {"note": "A gentle note."})
    assert changed(TEXT, new) == ['+    note: "A gentle note."']
    lines = new.splitlines()
    at = lines.index('    note: "A gentle note."')
    assert lines[at - 1].startswith("    preheader:") and lines[at + 1] == "" and lines[at + 2].startswith("  # Week 4")


def test_removing_the_last_key_keeps_the_comment_after_the_day():
    new = set_day_fields(TEXT, date(2027, 9, 30), {"note": None})
    assert len(changed(TEXT, new)) == 1
    assert "# Safe-messaging lint findings" in new
    assert parse_schedule(new).schedule.days[date(2027, 9, 30)].note is None


def test_quoting_style_is_kept_and_hostile_values_round_trip():
    text = TEXT.replace('subject: "Understanding PTSD with compassion"', "subject: 'Understanding PTSD'")
    new = set_day_fields(text, D12, {"subject": 'It\'s <script>alert(1)</script> "quoted" é ✓'})
    assert changed(text, new)[1].startswith("+    subject: '")
    assert parse_schedule(new).schedule.days[D12].subject == 'It\'s <script>alert(1)</script> "quoted" é ✓'
    plain = TEXT.replace('subject: "Understanding PTSD with compassion"', "subject: Understanding PTSD")
    weird = "yes: no # not a comment\n- and: [a list]"
    assert day_fields(set_day_fields(plain, D12, {"note": weird}), D12)["note"] == weird


def test_crlf_files_keep_their_line_endings():
    text = TEXT.replace("\n", "\r\n")
    new = set_day_fields(text, D12, {"subject": "X"})
    assert new.count("\r\n") == text.count("\r\n") and "\n" not in new.replace("\r\n", "")


def test_an_unknown_day_is_a_schedule_error():
    with pytest.raises(ScheduleError):
        set_day_fields(TEXT, date(2027, 10, 1), {"subject": "X"})


def test_write_if_unchanged_is_atomic_and_refuses_a_changed_file(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text(TEXT, encoding="utf-8")
    path.chmod(0o640)
    etag = etag_of(TEXT)
    new = set_day_fields(TEXT, D12, {"subject": "X"})
    assert write_if_unchanged(path, new, etag) == etag_of(new)
    assert path.read_text(encoding="utf-8") == new and (path.stat().st_mode & 0o777) == 0o640
    with pytest.raises(EditConflict) as caught:
        write_if_unchanged(path, TEXT, etag)  # the editor's version is stale now
    assert caught.value.current == new and caught.value.etag == etag_of(new)
    assert path.read_text(encoding="utf-8") == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedule.yaml"]  # no temporary file left


def test_concurrent_writers_with_the_same_etag_one_wins(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text(TEXT, encoding="utf-8")
    etag = etag_of(TEXT)
    results: list[str] = []

    def write(subject: str) -> None:
        try:
            write_if_unchanged(path, set_day_fields(TEXT, D12, {"subject": subject}), etag)
            results.append("ok")
        except EditConflict:
            results.append("conflict")

    threads = [threading.Thread(target=write, args=(f"Subject {i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["ok"]
