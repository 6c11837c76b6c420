"""`campaign run` / `pause` / `resume` as an operator runs them: real subprocesses of the CLI."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import time
from datetime import date

import pytest

from campaign.cli import app
from tests.conftest import CAMPAIGN_BIN, REPO
from tests.scheduler_helpers import emls, ledger, recipients, wait_until


def _demo_addresses() -> set[str]:
    with (REPO / "content" / "demo_subscribers.csv").open(encoding="utf-8") as f:
        return {row["email"] for row in csv.DictReader(f)}


def test_rehearsal_sends_all_thirty_days_in_order_once_each_dated_at_its_time(campaign_dir):
    campaign_dir.run("subscribers", "import", str(REPO / "content" / "demo_subscribers.csv"), check=True)
    started = time.monotonic()
    result = campaign_dir.run("run", "--rehearse", check=True, timeout=90)
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"the rehearsal took {elapsed:.1f} s"
    assert "rehearsal done" in result.stdout and "30 send time(s), 600 message(s)" in result.stdout
    schedule = campaign_dir.project().schedule
    assert len(schedule.dates) == 30
    addresses = _demo_addresses()
    assert len(addresses) == 20
    previous_last_write = 0
    for day in schedule.dates:
        got = recipients(campaign_dir, day.isoformat())  # also asserts nobody got the day twice
        assert set(got) == addresses, day
        # dated at its scheduled time: a send runs at normal speed from that instant, so a busy machine may
        # write the last messages a second or two after it (never before, never near the next day)
        offsets = {(sent - schedule.send_at(day)).total_seconds() for sent in got.values()}
        assert min(offsets) == 0 and max(offsets) < 5, (day, sorted(offsets))
        writes = [p.stat().st_mtime_ns for p in emls(campaign_dir, day.isoformat())]
        assert min(writes) >= previous_last_write, f"{day} was sent before the day before it finished"
        previous_last_write = max(writes)
    rows = ledger(campaign_dir)
    assert len(rows) == 600 and {status for _, _, status in rows} == {"sent"}
    # Log lines on stderr: time, day, counts.
    assert re.search(r"2027-09-10 09:00:00 EDT day 10, 2027-09-10 09:00 EDT: sent 20, failed 0", result.stderr)
    # A second rehearsal (a second `make run`) sends nothing and touches no file.
    before = {p: p.stat().st_mtime_ns for p in campaign_dir.outbox.rglob("*.eml")}
    again = campaign_dir.run("run", "--rehearse", check=True)
    assert "nothing to send" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in campaign_dir.outbox.rglob("*.eml")} == before
    status = campaign_dir.run("status", check=True).stdout
    assert status.count(" sent ") >= 30 and "missed" not in status


def test_rehearsal_refuses_to_write_a_real_providers_ledger(campaign_dir):
    result = campaign_dir.run("run", "--rehearse", env={"CAMPAIGN_PROVIDER": "postmark"})
    assert result.returncode == 2
    assert "CAMPAIGN_PROVIDER=outbox campaign run --rehearse" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_waits_follows_edits_refuses_a_second_scheduler_and_stops_on_sigterm(campaign_dir):
    import queue
    import threading

    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv([{"email": "a@example.org"}])), check=True)
    first = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in first.stdout], daemon=True).start()
    path = campaign_dir.root / "schedule.yaml"
    good = path.read_text(encoding="utf-8")
    broken = good.replace('    subject: "A month', '    subject: "A month" x"', 1)  # a stray quote
    try:
        assert re.fullmatch(r"next: day 1, 2027-09-01 09:00 EDT, in \d+ days\n", lines.get(timeout=30))
        # A second scheduler on the same database refuses, naming the process that holds it.
        second = campaign_dir.run("run", "--once", timeout=60)
        assert second.returncode == 1
        assert "another scheduler is already running" in second.stderr
        assert f":{first.pid}" in second.stderr
        # Moving a future day takes effect without a restart.
        path.write_text(good.replace('  send_time: "09:00"', '  send_time: "10:30"'), encoding="utf-8")
        assert lines.get(timeout=10).startswith("next: day 1, 2027-09-01 10:30 EDT, in ")
        # A syntax error is rejected: the process keeps running on the last valid schedule.
        path.write_text(broken, encoding="utf-8")
        time.sleep(2.5)
        assert first.poll() is None and lines.empty()
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "stopping" in err
    bad_line = next(i for i, line in enumerate(broken.splitlines(), 1) if '"A month" x"' in line)
    assert "day 2027-09-01 moved from 2027-09-01 09:00 EDT to 2027-09-01 10:30 EDT" in err
    assert "schedule.yaml changed, but the edit is invalid — the last valid schedule stays in force" in err
    assert f"schedule.yaml:{bad_line}: YAML syntax error" in err
    # The lock went with it. A new scheduler refuses the invalid file before anything (exit 2)...
    refused = campaign_dir.run("run", "--once")
    assert refused.returncode == 2 and f"schedule.yaml:{bad_line}" in refused.stderr
    # ...and starts once it is fixed.
    path.write_text(good, encoding="utf-8")
    assert campaign_dir.run("run", "--once", check=True).stdout.startswith("next: day 1")


def test_run_once_with_nothing_due_sends_nothing_and_exits(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv([{"email": "a@example.org"}])), check=True)
    result = campaign_dir.run("run", "--once", check=True)
    assert "once: 0 send time(s) sent" in result.stdout
    assert "next: day 1, 2027-09-01 09:00 EDT" in result.stdout
    assert not campaign_dir.outbox.exists() or not list(campaign_dir.outbox.rglob("*.eml"))


def test_pause_and_resume_commands(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv([{"email": "a@example.org"}])), check=True)
    assert campaign_dir.run("pause").returncode == 2  # a reason is required
    paused = campaign_dir.run("pause", "--reason", "holding mail during news coverage", check=True)
    assert "paused since" in paused.stdout
    status = campaign_dir.run("status", check=True).stdout
    assert "PAUSED since" in status and "holding mail during news coverage" in status
    refused = campaign_dir.run("send", "1", "--yes")
    assert refused.returncode == 1 and "paused" in refused.stderr and not campaign_dir.outbox.exists()
    rehearsal = campaign_dir.run("run", "--rehearse")
    assert rehearsal.returncode == 1 and "campaign resume" in rehearsal.stderr
    resumed = campaign_dir.run("resume", check=True)
    assert "resumed" in resumed.stdout and "no send time fell inside the pause" in resumed.stdout
    assert "not paused" in campaign_dir.run("resume", "--catch-up", check=True).stdout
    campaign_dir.run("send", "1", "--yes", check=True)
    assert len(emls(campaign_dir, "2027-09-01")) == 1


@pytest.mark.slow
def test_sigterm_lets_the_batch_in_flight_finish(campaign_dir):
    rows = [{"email": f"r{i:05d}@example.org"} for i in range(1000)]
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(rows)), check=True)
    proc = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run", "--rehearse"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        folder = campaign_dir.outbox / "2027-09-01"
        wait_until(
            lambda: folder.exists() and any(folder.glob("*.eml")),
            timeout=30,
            interval=0.01,
            what="the first batch under way",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopping: the batch in flight finishes" in err
    rows_day1 = ledger(campaign_dir, date(2027, 9, 1))
    files = emls(campaign_dir, "2027-09-01")
    statuses = {s for _, _, s in rows_day1}
    assert statuses <= {"sent"}, statuses  # nothing left in flight or unknown
    assert 0 < len(files) == len(rows_day1) <= 1000  # every written message is in the ledger
    assert not (campaign_dir.outbox / "2027-09-30").exists()  # it stopped, it did not play on
    # Sending again continues where it stopped: day 1 completes, nobody gets it twice. (Through the library:
    # the CLI refuses a real send on a rehearsal's database.)
    from campaign.delivery.sender import Sender
    from campaign.providers.outbox import OutboxProvider

    store = campaign_dir.store()
    try:
        Sender(campaign_dir.project(), store, OutboxProvider(campaign_dir.outbox)).send_day(date(2027, 9, 1))
    finally:
        store.close()
    assert len(emls(campaign_dir, "2027-09-01")) == 1000 == len(ledger(campaign_dir, date(2027, 9, 1)))


def test_every_scheduler_command_has_an_example():
    import typer.main

    group = typer.main.get_command(app)
    for name in ("run", "pause", "resume"):
        help_text = group.commands[name].help or ""
        assert "Example: campaign " + name in help_text, name
