"""Issue 8 #2: one bad recipient fails alone; a failure on this machine before any request releases the claims
and stops with exit 1 — never exit 0, never a false "unknown"."""

from __future__ import annotations

import errno

import pytest

import campaign.providers.outbox as outbox_module
from campaign.config import load_settings
from campaign.delivery.sender import Sender
from campaign.errors import LocalSendError
from campaign.ledger.store import Store
from campaign.providers.outbox import OutboxProvider
from campaign.providers.postmark import PostmarkProvider
from campaign.series.project import load_project
from tests.provider_servers import FAST_RETRY, FakePostmark, ledger, make_rig, seed_subscribers


def test_an_outbox_that_cannot_be_written_exits_1_and_leaves_everyone_owed(campaign_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    seed_subscribers(campaign_dir.store(), 30)
    result = campaign_dir.run("send", "1", "--yes", env={"CAMPAIGN_OUTBOX": str(blocker / "outbox")})
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "cannot create" in result.stderr
    day = campaign_dir.project().schedule.dates[0]
    assert ledger(campaign_dir.store(), day) == {}  # claims released: still owed, nothing unknown
    status = campaign_dir.run("status", check=True).stdout
    row = next(line for line in status.splitlines() if "01 Sep" in line)
    assert "30" in row and row.rstrip(" │").endswith("0")
    again = campaign_dir.run("send", "1", "--yes", check=True)  # once fixed, everyone gets it
    assert "sent 30" in again.stdout


def _in_process(campaign_dir):
    settings = load_settings(campaign_dir.root, campaign_dir.env)
    return settings, load_project(settings), Store.open(settings.database_url)


def test_a_full_disk_mid_batch_keeps_what_was_written_and_releases_the_rest(campaign_dir, monkeypatch):
    settings, project, store = _in_process(campaign_dir)
    seed_subscribers(store, 40)
    real_replace, calls = outbox_module.os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) > 25:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(outbox_module.os, "replace", replace)
    sender = Sender(project, store, OutboxProvider(settings.outbox_dir))
    with pytest.raises(LocalSendError, match="No space left"):
        sender.send_day(project.schedule.dates[0])
    assert ledger(store, project.schedule.dates[0]) == {"sent": 25}
    assert not list(settings.outbox_dir.rglob("*.tmp"))
    monkeypatch.setattr(outbox_module.os, "replace", real_replace)
    report = sender.send_day(project.schedule.dates[0])
    assert report.sent == 15 and report.unknown == 0


def test_a_credential_requests_refuses_to_put_in_a_header_releases_the_claims(campaign_dir):
    settings, project, store = _in_process(campaign_dir)
    seed_subscribers(store, 20)
    with FakePostmark() as server:
        provider = PostmarkProvider("bad\ntoken", server.url)  # (from_settings refuses this; built directly)
        sender = Sender(project, store, provider, retry=FAST_RETRY)
        with pytest.raises(LocalSendError, match="could not be built"):
            sender.send_day(project.schedule.dates[0])
        assert server.requests == []
    assert ledger(store, project.schedule.dates[0]) == {}


class OneBadPayload(PostmarkProvider):
    """A payload that cannot be built for one recipient (whatever the reason): only that one is rejected."""

    def build_request(self, batch):
        if any(r.email == "reader000007@example.org" for r in batch.recipients):
            raise ValueError("cannot encode this recipient")
        return super().build_request(batch)


def test_a_payload_that_cannot_be_built_for_one_recipient_rejects_only_that_one(campaign_dir):
    with FakePostmark() as server:
        rig = make_rig(campaign_dir, server, "outbox", {})
        seed_subscribers(rig.store, 30)
        sender = Sender(rig.project, rig.store, OneBadPayload("test-key", server.url), retry=FAST_RETRY)
        report = sender.send_day(rig.day)
        assert (report.sent, report.rejected, report.unknown, report.failed) == (29, 1, 0, 0)
        assert sum(server.counts().values()) == 29
    row = rig.rows()["reader000007@example.org"]
    assert row.status == "rejected" and "cannot encode this recipient" in row.error


def test_an_address_with_no_idna_form_is_rejected_alone(campaign_dir):
    with FakePostmark() as server:
        rig = make_rig(campaign_dir, server, "outbox", {})
        seed_subscribers(rig.store, 5)
        seed_subscribers(rig.store, 1, start=6, emails=["bad@exa\u0000mple.org"])  # a row edited by hand
        sender = Sender(rig.project, rig.store, PostmarkProvider("test-key", server.url), retry=FAST_RETRY)
        report = sender.send_day(rig.day)
        assert (report.sent, report.rejected, report.unknown) == (5, 1, 0)
    assert rig.rows()["bad@exa\u0000mple.org"].status == "rejected"
