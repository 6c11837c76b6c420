"""Resend against a local server that follows /emails/batch, including idempotency keys and permissive
validation. Resend is the one provider whose batches may be sent again safely."""

from __future__ import annotations

import pytest

from campaign.delivery.tokens import Tokens
from campaign.errors import AuthenticationFailed
from campaign.ledger.states import INFLIGHT
from campaign.providers.base import Batch
from campaign.providers.resend import idempotency_key
from campaign.series.links import unsubscribe_url
from tests.conftest import TEST_SECRET
from tests.provider_servers import (
    FakeResend,
    Fault,
    claim_as_dead_sender,
    expected_preferences,
    make_rig,
    once,
    seed_subscribers,
)


def resend_env(server, key="re_test"):
    return {"CAMPAIGN_PROVIDER": "resend", "RESEND_API_KEY": key, "RESEND_API_URL": server.url}


def expected_url(subscriber_id: int) -> str:
    return unsubscribe_url("https://news.example.org", Tokens(TEST_SECRET).unsubscribe(subscriber_id))


def test_batch_request_contract(campaign_dir):
    with FakeResend(key="re_test") as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        ids = seed_subscribers(rig.store, 250)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert report.sent == 250
        assert [len(r.json) for r in server.requests] == [100, 100, 50]
        keys = [r.headers["Idempotency-Key"] for r in server.requests]
        assert len(set(keys)) == 3 and all(len(k) <= 256 for k in keys)
        assert {r.headers["X-Batch-Validation"] for r in server.requests} == {"permissive"}
        assert {r.headers["Authorization"] for r in server.requests} == {"Bearer re_test"}
        email = server.requests[0].json[0]
        assert email["to"] == ["Reader 1 <reader000001@example.org>"]
        assert email["tags"] == [
            {"name": "issue", "value": rig.day.isoformat()},
            {"name": "subscriber_id", "value": str(ids[0])},
        ]
        assert "Date" not in email["headers"]  # the body must be reproducible for the key
        assert email["headers"]["List-Unsubscribe"] == f"<{expected_url(ids[0])}>"
        html, text = rig.project.render(rig.day).merge(
            unsubscribe_url=expected_url(ids[0]), name="Reader 1", preferences_url=expected_preferences(ids[0], rig.day)
        )
        assert (email["html"], email["text"]) == (html, text)
        assert rig.ledger() == {"sent": 250}


def test_permissive_validation_rejects_only_the_invalid_item(campaign_dir):
    with FakeResend(key="re_test") as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        seed_subscribers(rig.store, 2)
        seed_subscribers(rig.store, 1, emails=["user@nodot"])
        seed_subscribers(rig.store, 1, start=4)
        report = rig.sender().send_day(rig.day)
        assert (report.sent, report.rejected) == (3, 1)
        rows = rig.rows()
        assert rows["user@nodot"].status == "rejected" and "Invalid `to`" in rows["user@nodot"].error
        assert {rows[e].status for e in rows if e != "user@nodot"} == {"sent"}
        assert all(rows[e].provider_message_id for e in rows if e != "user@nodot")


def test_a_timeout_is_retried_with_the_same_key_and_delivered_once(campaign_dir):
    with FakeResend(key="re_test", faults=once(1, Fault(stall=2.5, after=True))) as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        rig.provider.timeout = (2.0, 1.2)
        seed_subscribers(rig.store, 30)
        report = rig.sender().send_day(rig.day)
        assert report.sent == 30 and report.unknown == 0 and report.retries >= 1
        first, second = server.requests[:2]
        assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
        assert server.replayed >= 1
        assert set(server.counts().values()) == {1} and len(server.counts()) == 30
        assert rig.ledger() == {"sent": 30}


def test_a_batch_left_in_flight_by_a_crash_is_resent_automatically_with_the_same_key(campaign_dir):
    with FakeResend(key="re_test") as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        seed_subscribers(rig.store, 150)
        sender = rig.sender()
        # What a sender killed mid-request leaves behind: a claimed batch the provider did receive.
        rows = claimed = claim_as_dead_sender(sender, rig.day, limit=100, batch_id="20270901-crashed")
        batch = Batch(
            "20270901-crashed",
            rig.project.render(rig.day),
            tuple(sender.recipient(r, rig.day) for r in rows),
            sender.identity(rig.day),
            sent_at=sender.clock(),
        )
        rig.provider.send_batch(batch)
        assert len(claimed) == 100 and rig.ledger() == {INFLIGHT: 100}

        report = rig.sender().send_day(rig.day)
        assert report.sent == 150 and report.unknown == 0
        assert server.replayed == 1  # the provider de-duplicated it
        resent = [r for r in server.requests if r.headers["Idempotency-Key"] == idempotency_key(batch)]
        assert len(resent) == 2 and resent[0].body == resent[1].body
        assert set(server.counts().values()) == {1} and len(server.counts()) == 150
        assert rig.ledger() == {"sent": 150}


def test_an_unknown_batch_whose_member_unsubscribed_is_left_for_the_operator(campaign_dir):
    with FakeResend(key="re_test") as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        ids = seed_subscribers(rig.store, 10)
        assert len(claim_as_dead_sender(rig.sender(), rig.day, limit=100, batch_id="20270901-crashed")) == 10
        rig.store.suppress(ids[3], "unsubscribed", "clicked the link")
        report = rig.sender().send_day(rig.day)
        # The batch can no longer be rebuilt byte for byte: a new key could deliver twice, so it stays unknown.
        # All ten rows stay unknown in the ledger; nine wait for the operator (nobody resends to the one who left).
        assert report.sent == 0 and report.unknown == 9 and server.requests == []
        assert rig.ledger() == {"unknown": 10}


def test_same_key_with_a_different_body_is_unknown(campaign_dir):
    conflict = {
        "statusCode": 409,
        "name": "invalid_idempotent_request",
        "message": "Same idempotency key used with a different request payload.",
    }
    with FakeResend(key="re_test", faults=once(1, Fault(409, body=conflict))) as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        seed_subscribers(rig.store, 5)
        report = rig.sender().send_day(rig.day)
        assert report.unknown == 5 and len(server.requests) == 1
        assert "changed since the batch was first sent" in rig.rows()["reader000001@example.org"].error


def test_an_invalid_key_stops_the_send(campaign_dir):
    with FakeResend(key="re_right") as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server, key="re_wrong"))
        seed_subscribers(rig.store, 300)
        with pytest.raises(AuthenticationFailed, match="RESEND_API_KEY"):
            rig.sender().send_day(rig.day)
        assert {r.status for r in server.requests} == {403}
        assert rig.ledger() == {}


def test_429_honours_retry_after(campaign_dir):
    with FakeResend(
        key="re_test",
        faults=once(
            1,
            Fault(
                429,
                headers={
                    "retry-after": "1",
                    "ratelimit-limit": "2",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": "1",
                },
            ),
        ),
    ) as server:
        rig = make_rig(campaign_dir, server, "resend", resend_env(server))
        seed_subscribers(rig.store, 3)
        report = rig.sender().send_day(rig.day)
        assert report.sent == 3 and report.retries == 1
        assert set(server.counts().values()) == {1}
