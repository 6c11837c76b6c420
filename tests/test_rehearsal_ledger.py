"""Issue 9 #5: a rehearsal never touches a live ledger, and a real send never trusts a rehearsal's."""

from __future__ import annotations

from tests.conftest import people
from tests.scheduler_helpers import emls, ledger


def _state(cdir, key: str):
    store = cdir.store()
    try:
        return store.get_state(key)
    finally:
        store.close()


def test_a_rehearsal_refuses_a_database_with_real_deliveries_and_changes_nothing(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(2))), check=True)
    campaign_dir.run("send", "1", "--yes", input="", check=True)
    before = ledger(campaign_dir)
    files = sorted(campaign_dir.outbox.rglob("*.eml"))
    refused = campaign_dir.run("run", "--rehearse", "--seconds", "2", input="")
    assert refused.returncode == 2, refused.stderr
    assert "holds real deliveries" in refused.stderr and "Traceback" not in refused.stderr
    assert ledger(campaign_dir) == before and sorted(campaign_dir.outbox.rglob("*.eml")) == files
    assert _state(campaign_dir, "rehearsal") is None
    assert campaign_dir.run("reset", "--rehearsal", input="").returncode == 2  # a live ledger is never reset
    assert ledger(campaign_dir) == before


def test_a_real_send_refuses_a_rehearsal_database_until_it_is_reset(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(2))), check=True)
    campaign_dir.run("run", "--rehearse", "--seconds", "3", input="", check=True, timeout=90)
    assert len(ledger(campaign_dir)) == 60 and _state(campaign_dir, "rehearsal")
    again = campaign_dir.run("run", "--rehearse", input="", check=True)  # a second `make run`
    assert "nothing to send" in again.stdout
    for command in (["send", "2", "--yes"], ["run", "--once"], ["run"]):
        refused = campaign_dir.run(*command, input="", timeout=60)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert "campaign reset --rehearsal" in refused.stderr and "CAMPAIGN_DATABASE_URL" in refused.stderr
    # Test copies and `status` still work on it.
    campaign_dir.run("send", "2", "--to", "me@example.org", input="", check=True)
    assert " sent " in campaign_dir.run("status", check=True).stdout
    reset = campaign_dir.run("reset", "--rehearsal", input="", check=True)
    assert "60 rehearsal delivery(ies) forgotten" in reset.stdout
    assert ledger(campaign_dir) == [] and _state(campaign_dir, "rehearsal") is None
    store = campaign_dir.store()
    try:
        assert store.count_subscribers().get("active") == 2
    finally:
        store.close()
    before = len(emls(campaign_dir, "2027-09-01"))
    campaign_dir.run("send", "1", "--yes", input="", check=True)
    assert len(ledger(campaign_dir)) == 2 and len(emls(campaign_dir, "2027-09-01")) == before


def test_a_rehearsal_with_nobody_to_send_to_leaves_a_database_fit_for_real_sends(campaign_dir):
    result = campaign_dir.run("run", "--rehearse", input="", check=True)
    assert "nobody to send to" in result.stdout
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(1))), check=True)
    campaign_dir.run("send", "1", "--yes", input="", check=True)
    assert _state(campaign_dir, "rehearsal") is None
    assert campaign_dir.run("run", "--rehearse", input="").returncode == 2
