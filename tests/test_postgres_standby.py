"""Issue 11 #4: one scheduler per PostgreSQL database at a time; a second `campaign run` on another host (here:
another process) waits as a standby and takes over within a minute of the first dying — its advisory lock
goes with its connection."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import CAMPAIGN_BIN


def _start(cdir) -> tuple[subprocess.Popen, queue.Queue, queue.Queue]:
    proc = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run"],
        cwd=cdir.root,
        env=cdir.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [out.put(line) for line in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [err.put(line) for line in proc.stderr], daemon=True).start()
    return proc, out, err


def _wait_for(lines: queue.Queue, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw {seen}")


@pytest.mark.slow
def test_a_standby_scheduler_takes_over_within_a_minute_of_the_first_being_killed(pg_campaign_dir):
    cdir = pg_campaign_dir
    cdir.run("subscribers", "import", str(cdir.write_csv([{"email": "a@example.org"}])), check=True)
    first, first_out, _ = _start(cdir)
    second = None
    try:
        _wait_for(first_out, r"^next: day 1, ", 60)
        second, second_out, second_err = _start(cdir)
        standby = _wait_for(second_out, r"^standby: ", 60)
        assert f":{first.pid}" in standby  # names the scheduler it stands by for
        assert second.poll() is None
        status = cdir.run("status", check=True)
        assert "Traceback" not in status.stderr

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed = time.monotonic()
        _wait_for(second_err, r"scheduler started", 60)
        assert time.monotonic() - killed < 60
        _wait_for(second_out, r"^next: day 1, ", 30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
    assert second.returncode == 0
    # nothing went out twice: nothing was due, and the ledger holds no row at all
    store = cdir.store()
    try:
        assert store.delivery_counts() == {}
        from campaign.ledger.alerts import recent_alerts

        # the operators are told: the first started, the standby took over (and stopped at the end)
        kinds = [row.kind for row in reversed(recent_alerts(store.engine))]
        assert kinds == ["scheduler:run:started", "scheduler:standby:took_over", "scheduler:run:stopped"], kinds
    finally:
        store.close()
