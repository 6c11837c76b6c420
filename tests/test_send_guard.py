"""Issue 9 #4 and #6: `campaign send` asks before an early or out-of-order send; test copies to several
addresses (and the seed list) never touch the ledger; a day everyone has says so."""

from __future__ import annotations

import email
import os
import subprocess

from tests.conftest import CAMPAIGN_BIN, REPO, people
from tests.scheduler_helpers import emls, ledger


def _import(cdir, rows=None) -> None:
    path = str(cdir.write_csv(rows)) if rows else str(REPO / "content" / "demo_subscribers.csv")
    cdir.run("subscribers", "import", path, check=True)


def test_an_early_send_without_a_terminal_needs_yes_and_sends_nothing_otherwise(campaign_dir):
    _import(campaign_dir, people(3))
    refused = campaign_dir.run("send", "20", input="")  # stdin is a pipe: no terminal to ask on
    assert refused.returncode == 2, refused.stderr
    assert "still ahead" in refused.stderr and "earlier days are not sent yet (day 1, 2, 3" in refused.stderr
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert not campaign_dir.outbox.exists() or not list(campaign_dir.outbox.rglob("*.eml"))
    assert ledger(campaign_dir) == []
    sent = campaign_dir.run("send", "20", "--yes", input="", check=True)
    assert "sent 3" in sent.stdout
    assert len(emls(campaign_dir, "2027-09-20")) == 3


def _on_a_terminal(cdir, answer: str, *args: str) -> subprocess.CompletedProcess:
    """Run `campaign ARGS` with a pseudo-terminal as stdin, typing `answer`."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(CAMPAIGN_BIN), *args],
            cwd=cdir.root,
            env=cdir.env,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, answer.encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_on_a_terminal_it_asks_and_no_sends_nothing_yes_sends(campaign_dir):
    _import(campaign_dir, people(1))
    declined = _on_a_terminal(campaign_dir, "n\n", "send", "5")
    assert declined.returncode == 1, declined.stderr
    assert "Send day 5 now anyway?" in declined.stderr and "not sent" in declined.stderr
    assert ledger(campaign_dir) == []
    accepted = _on_a_terminal(campaign_dir, "y\n", "send", "5")
    assert accepted.returncode == 0, accepted.stderr
    assert len(emls(campaign_dir, "2027-09-05")) == 1


def test_several_test_addresses_each_validated_and_the_ledger_untouched(campaign_dir):
    _import(campaign_dir, people(2))
    bad = campaign_dir.run("send", "1", "--to", "not an address", input="")
    assert bad.returncode == 2 and "not an address" in bad.stderr and "Traceback" not in bad.stderr
    bad2 = campaign_dir.run("send", "1", "--to", "a@example.org", "--to", "b@", input="")
    assert bad2.returncode == 2 and not campaign_dir.outbox.exists()
    ok = campaign_dir.run("send", "1", "--to", "a@example.org", "--to", "b@example.org", input="", check=True)
    assert "sent to a@example.org" in ok.stdout and "sent to b@example.org" in ok.stdout
    files = list(campaign_dir.outbox.rglob("*.eml"))
    assert len(files) == 2
    for path in files:
        msg = email.message_from_bytes(path.read_bytes())
        assert msg["Subject"].startswith("[Test] ")
    assert ledger(campaign_dir) == []
    assert "sent 0" not in campaign_dir.run("status", check=True).stdout.split("01 Sep")[1][:40]


def test_the_seed_list_gets_test_copies(campaign_dir):
    _import(campaign_dir, people(1))
    campaign_dir.edit_schedule(
        "default_country: US", 'default_country: US\n  seed_list: ["seed1@example.org", "seed2@example.org"]'
    )
    result = campaign_dir.run("send", "3", "--seeds", input="", check=True)
    assert "seed1@example.org" in result.stdout and "seed2@example.org" in result.stdout
    assert len(list(campaign_dir.outbox.rglob("*.eml"))) == 2 and ledger(campaign_dir) == []
    campaign_dir.edit_schedule('"seed2@example.org"', '"seed two"')
    invalid = campaign_dir.run("validate")
    assert invalid.returncode == 2 and "seed_list" in invalid.stderr


def test_a_day_everyone_has_says_zero_owed_and_how_many_were_sent(campaign_dir):
    _import(campaign_dir)  # the 20 demo subscribers
    campaign_dir.run("send", "3", "--yes", input="", check=True)
    again = campaign_dir.run("send", "3", input="", check=True)
    assert "0 owed — 20 already sent" in again.stdout
    assert len(emls(campaign_dir, "2027-09-03")) == 20
