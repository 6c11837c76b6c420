"""Issue 8 #5: no edit saved under a running `campaign run` can stop it or balloon it, and a send that fails
unexpectedly is tried again within the grace window instead of being reported missed."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from datetime import timedelta

import psutil
import pytest
from sqlalchemy import create_engine, text

from campaign.clock import Clock
from tests.conftest import CAMPAIGN_BIN, people
from tests.scheduler_helpers import at_ny, date_header, emls, import_people, ledger, running, wait_until

MAX_RSS = 300 * 1024 * 1024
DAY2 = "  2027-09-02:"


def _hostile(good: str) -> list[tuple[str, str]]:
    """(what, schedule.yaml text): an impossible date, a 20,000-deep list, an alias bomb."""
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9)}]")
    assert DAY2 in good
    return [
        ("2027-09-31", good.replace(DAY2, "  2027-09-31:", 1)),
        ("nested", good + "\nextra: " + "[" * 20000 + "]" * 20000 + "\n"),
        ("alias", "\n".join(bomb) + "\n" + good),
    ]


class _Lines:
    def __init__(self, stream):
        self.q: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.q.put(line) for line in stream], daemon=True).start()

    def count(self, text: str) -> int:
        while not self.q.empty():
            self.seen.append(self.q.get())
        return sum(text in line for line in self.seen)


@pytest.mark.slow
def test_hostile_edits_under_a_running_campaign_run_leave_it_running_on_the_last_good_schedule(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(3))), check=True)
    path = campaign_dir.root / "schedule.yaml"
    good = path.read_text(encoding="utf-8")
    proc = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run", "--rehearse", "--seconds", "40"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err, out = _Lines(proc.stderr), _Lines(proc.stdout)
    try:
        wait_until(lambda: err.count("scheduler started"), timeout=30, what="the scheduler started")
        for n, (what, text) in enumerate(_hostile(good), 1):
            path.write_text(text, encoding="utf-8")
            wait_until(lambda n=n: err.count("the edit is invalid") >= n, timeout=30, what=f"the {what} edit refused")
            assert proc.poll() is None, f"the scheduler died on the {what} edit"
            rss = psutil.Process(proc.pid).memory_info().rss
            assert rss < MAX_RSS, f"{rss >> 20} MB after the {what} edit"
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # the reader threads drain the pipes
    err.count("")
    log = "".join(err.seen)
    assert proc.returncode == 0, log
    assert re.search(r"schedule\.yaml:\d+: .*2027-09-31", log), log
    assert re.search(r"schedule\.yaml:\d+: .*(nested|deep|[Rr]ecursion)", log), log
    assert re.search(r"schedule\.yaml:\d+: .*alias", log), log
    assert "Traceback" not in log
    # It kept sending on the last good schedule: every day, once, to everyone — day 2 included.
    out.count("")
    assert "30 send time(s), 90 message(s)" in "".join(out.seen)
    assert len(emls(campaign_dir, "2027-09-02")) == 3 and not (campaign_dir.outbox / "2027-09-31").exists()
    assert len(ledger(campaign_dir)) == 90


def test_after_hostile_edits_the_next_day_goes_out_on_time(campaign_dir, caplog):
    """In-process at normal speed: day 1 is seconds away while the hostile edits are saved."""
    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(2))
    path = campaign_dir.root / "schedule.yaml"
    good = path.read_text(encoding="utf-8")
    clock = Clock(at_ny("2027-09-01 08:59:55"))
    with running(campaign_dir, clock) as scheduler:
        wait_until(lambda: scheduler.announced, what="started")
        for n, (_, text) in enumerate(_hostile(good), 1):
            path.write_text(text, encoding="utf-8")
            wait_until(lambda n=n: caplog.text.count("the edit is invalid") >= n, timeout=8, what=f"edit {n}")
        wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 2, timeout=30, what="day 1 sent")
    sent = [date_header(p) for p in emls(campaign_dir, "2027-09-01")]
    assert all(at_ny("2027-09-01 09:00") <= d < at_ny("2027-09-01 09:00") + timedelta(seconds=5) for d in sent)
    assert "MISSED" not in caplog.text


def test_a_send_that_fails_unexpectedly_is_retried_at_the_next_tick_not_missed(campaign_dir, caplog):
    """A real, unforeseen failure: the ledger's table vanishes under the running scheduler (renamed by another
    connection), so the send raises a database error no code path expects; it comes back a moment later."""
    import logging

    caplog.set_level("INFO", logger="campaign.scheduler")
    import_people(campaign_dir, people(2))
    engine = create_engine(campaign_dir.env["CAMPAIGN_DATABASE_URL"])

    class PutTheTableBack(logging.Handler):
        """Ends the fault as the failure is logged (in the scheduler's thread, before its next tick), so the
        retry at the next tick finds the table whatever the machine's load."""

        def emit(self, record: logging.LogRecord) -> None:
            if "unexpected error" in record.getMessage() and not getattr(self, "done", False):
                self.done = True
                with engine.begin() as conn:
                    conn.execute(text("ALTER TABLE deliveries_away RENAME TO deliveries"))

    handler = PutTheTableBack()
    logging.getLogger("campaign.scheduler").addHandler(handler)
    try:
        with running(campaign_dir, Clock(at_ny("2027-09-01 08:59:57"))) as scheduler:
            wait_until(lambda: scheduler.announced, what="started")
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE deliveries RENAME TO deliveries_away"))
            wait_until(lambda: "unexpected error" in caplog.text, timeout=15, what="the first attempt failing")
            wait_until(lambda: len(emls(campaign_dir, "2027-09-01")) == 2, timeout=30, what="day 1 sent after it")
    finally:
        logging.getLogger("campaign.scheduler").removeHandler(handler)
        engine.dispose()
    assert "unexpected error; trying again" in caplog.text and "(within the grace window)" in caplog.text
    assert "no such table: deliveries" in caplog.text and "MISSED" not in caplog.text
    assert [status for _day, _email, status in ledger(campaign_dir)] == ["sent", "sent"]


@pytest.mark.parametrize(
    ("path", "payload", "expected"),
    [
        ("templates/issue.txt.j2", "{% if %}broken", "issue.txt.j2"),
        ("content/article.md", b"\xff\xfe not utf-8 \x80", "article.md"),
        ("schedule.yaml", "campaign: [", "schedule.yaml"),
        ("content/crisis_resources.yaml", "{" * 5000, "crisis_resources.yaml"),
    ],
)
def test_a_broken_content_or_template_edit_is_refused_with_its_file_and_the_project_kept(
    campaign_dir, path, payload, expected
):
    from campaign.timing.watch import InputWatcher

    watcher = InputWatcher(campaign_dir.settings)
    target = campaign_dir.root / path
    if isinstance(payload, bytes):
        target.write_bytes(payload)
    else:
        target.write_text(payload, encoding="utf-8")
    changed = watcher.changed()
    assert changed == [path]
    project, problems = watcher.reload(changed)
    assert project is None and problems
    assert any(expected in line for line in problems), problems
    assert not any("Traceback" in line for line in problems)
