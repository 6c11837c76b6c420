"""kill -9 a real `campaign send` mid-send, restart it, and check that every subscriber has day 1 exactly once —
apart from the deliveries `campaign status` lists as unknown (at most the batches that were in flight)."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from tests.conftest import CAMPAIGN_BIN
from tests.provider_servers import FakePostmark, FakeResend, go_live, ledger, seed_subscribers

pytestmark = pytest.mark.slow


def _kill_mid_send(campaign_dir, env: dict, server, *, after: int, timeout: float = 90) -> int:
    """Start `campaign send 1`, SIGKILL it once the server has accepted `after` messages; returns how many
    deliveries the ledger holds in flight at that moment."""
    process = subprocess.Popen(
        [str(CAMPAIGN_BIN), "send", "1", "--yes"],
        cwd=campaign_dir.root,
        env={**campaign_dir.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while server.accepted < after:
            assert process.poll() is None, f"the send ended before it could be killed: {process.communicate()}"
            assert time.monotonic() < deadline, "the send did not get going"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return ledger(campaign_dir.store(), campaign_dir.project().schedule.dates[0]).get("inflight", 0)


def _status_unknown(campaign_dir, env: dict) -> int:
    """The Unknown column of day 1 in `campaign status`."""
    out = campaign_dir.run("status", env=env, check=True).stdout
    row = next(line for line in out.splitlines() if re.match(r"^\W*1\W+01 Sep", line))
    cells = [c.strip() for c in re.split(r"[│|┃]", row) if c.strip()]
    return int(cells[-1])


def _check_exactly_once(campaign_dir, server, *, total: int, in_flight_at_kill: int, most_unknown: int) -> set:
    day = campaign_dir.project().schedule.dates[0]
    rows = {row.email: row.status for row in campaign_dir.store().deliveries_for(day)}
    assert len(rows) == total  # nobody skipped
    assert set(rows.values()) <= {"sent", "unknown"}
    unknown = {email for email, status in rows.items() if status == "unknown"}
    assert len(unknown) == in_flight_at_kill <= most_unknown
    counts = server.counts()
    for email, status in rows.items():
        if status == "sent":
            assert counts[email] == 1, (email, counts[email])
        else:
            assert counts[email] in (0, 1), (email, counts[email])
    assert set(counts) <= set(rows)
    return unknown


def test_kill_9_during_a_50000_subscriber_postmark_send(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 50_000)
    campaign_dir.edit_schedule("  default_country: US", "  default_country: US\n  rate_limit: 200000\n  concurrency: 4")
    # lean: the server keeps who got what, not 1 GB of bodies; delay: requests are in flight when the kill lands.
    with FakePostmark(lean=True, delay=0.05) as server:
        env = {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url}
        in_flight = _kill_mid_send(campaign_dir, env, server, after=8_000)

        result = campaign_dir.run("send", "1", "--yes", env=env, timeout=240)
        assert "unknown" in result.stdout and "--resend-unknown" in result.stdout
        # never quiet: the unknown rows are named with the command that settles them, and the exit is non-zero
        assert result.returncode == 1 and "unknown" in result.stderr and "--resend-unknown" in result.stderr
        shown_unknown = _status_unknown(campaign_dir, env)
        unknown = _check_exactly_once(
            campaign_dir, server, total=50_000, in_flight_at_kill=in_flight, most_unknown=4 * 500
        )
        assert shown_unknown == len(unknown)
        # a third run changes nothing: unknown deliveries are never resent without --resend-unknown
        requests_before = len(server.requests)
        third = campaign_dir.run("send", "1", "--yes", env=env)
        assert len(server.requests) == requests_before
        assert third.returncode == 1 and f"{len(unknown)} unknown" in third.stderr


def test_kill_9_during_a_resend_send_resends_the_unknown_batches_with_the_same_key(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 3_000)
    campaign_dir.edit_schedule("  default_country: US", "  default_country: US\n  rate_limit: 200000\n  concurrency: 4")
    with FakeResend(key="re_test", lean=True, delay=0.1) as server:
        env = {"CAMPAIGN_PROVIDER": "resend", "RESEND_API_KEY": "re_test", "RESEND_API_URL": server.url}
        in_flight = _kill_mid_send(campaign_dir, env, server, after=800)
        assert 0 < in_flight <= 4 * 100
        time.sleep(0.3)  # the server finishes the requests the dead sender left open
        result = campaign_dir.run("send", "1", "--yes", env=env, check=True)
        assert "unknown" not in result.stdout
        assert _status_unknown(campaign_dir, env) == 0
        day = campaign_dir.project().schedule.dates[0]
        assert ledger(campaign_dir.store(), day) == {"sent": 3_000}
        counts = server.counts()
        assert len(counts) == 3_000 and set(counts.values()) == {1}  # exactly once, everyone
        assert server.replayed >= 1  # the provider de-duplicated


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_let_the_batches_in_flight_finish_and_say_how_to_resume(campaign_dir, sig, code):
    go_live(campaign_dir)
    seed_subscribers(campaign_dir.store(), 3_000)  # more batches than can be in flight at once
    with FakePostmark(lean=True, delay=0.25) as server:
        env = {
            **campaign_dir.env,
            "CAMPAIGN_PROVIDER": "postmark",
            "POSTMARK_SERVER_TOKEN": "test-key",
            "POSTMARK_API_URL": server.url,
        }
        process = subprocess.Popen(
            [str(CAMPAIGN_BIN), "send", "1", "--yes"],
            cwd=campaign_dir.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while server.accepted < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
        assert process.returncode == code, err
        assert "Resume with: campaign send 2027-09-01" in err
        day = campaign_dir.project().schedule.dates[0]
        after_stop = ledger(campaign_dir.store(), day)
        assert set(after_stop) == {"sent"} and after_stop["sent"] == server.accepted < 3_000  # consistent
        campaign_dir.run("send", "1", "--yes", env=env, check=True)
        assert ledger(campaign_dir.store(), day) == {"sent": 3_000}
        assert set(server.counts().values()) == {1}
