"""Postmark against a local server that follows its batch contract; the ledger is checked after each case."""

from __future__ import annotations

import time

import pytest

from campaign.delivery.tokens import Tokens
from campaign.errors import AuthenticationFailed, ConfigurationError
from campaign.ledger.states import BOUNCED
from campaign.providers import make_provider
from campaign.series.links import unsubscribe_url
from tests.conftest import TEST_SECRET
from tests.provider_servers import (
    LIVE_PUBLIC_URL,
    FakePostmark,
    Fault,
    combine,
    every,
    expected_preferences,
    go_live,
    ledger,
    make_rig,
    once,
    rate_limited,
    seed_subscribers,
)

PUBLIC_URL = "https://news.example.org"


def postmark_env(server, token="test-key"):
    return {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": token, "POSTMARK_API_URL": server.url}


def expected_url(subscriber_id: int, public_url: str = PUBLIC_URL) -> str:
    return unsubscribe_url(public_url, Tokens(TEST_SECRET).unsubscribe(subscriber_id))


# -- acceptance, through the real CLI ------------------------------------------------------------------
def test_cli_delivers_5000_in_batches_of_500_and_a_second_run_sends_nothing(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    ids = seed_subscribers(store, 5000)
    with FakePostmark() as server:
        result = campaign_dir.run("send", "1", "--yes", env=postmark_env(server), check=True)
        assert "sent 5000, failed 0" in result.stdout
        batches = server.requests_to("/email/batch")
        assert [len(r.json) for r in batches] == [500] * 10
        for request in batches:
            assert request.headers["X-Postmark-Server-Token"] == "test-key"
            for message in request.json:
                assert message["HtmlBody"] and message["TextBody"] and message["MessageStream"] == "broadcast"
                headers = {h["Name"]: h["Value"] for h in message["Headers"]}
                sid = int(message["Metadata"]["subscriber_id"])
                url = expected_url(sid, LIVE_PUBLIC_URL)
                assert headers["List-Unsubscribe"] == f"<{url}>"
                assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
                assert url in message["HtmlBody"] and url in message["TextBody"]
        assert sorted(server.counts().values()) == [1] * 5000
        assert ledger(store, campaign_dir.project().schedule.dates[0]) == {"sent": 5000}
        requests_before = len(server.requests)

        again = campaign_dir.run("send", "1", "--yes", env=postmark_env(server), check=True)
        assert "0 owed" in again.stdout
        assert len(server.requests) == requests_before
    ids_in_ledger = {row.subscriber_id for row in store.deliveries_for(campaign_dir.project().schedule.dates[0])}
    assert ids_in_ledger == set(ids)


def test_cli_429_every_third_request_and_one_500_still_delivers_each_exactly_once(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 5000)
    campaign_dir.edit_schedule("  default_country: US", "  default_country: US\n  rate_limit: 20000")
    faults = combine(once(2, Fault(500)), every(3, rate_limited()))  # Postmark's 429 carries no hint
    with FakePostmark(faults=faults) as server:
        result = campaign_dir.run("send", "1", "--yes", env=postmark_env(server), check=True)
        statuses = [r.status for r in server.requests]
        assert statuses.count(429) >= 3 and statuses.count(500) == 1
        assert "retried" in result.stdout
        counts = server.counts()
    assert len(counts) == 5000 and set(counts.values()) == {1}
    assert ledger(store, campaign_dir.project().schedule.dates[0]) == {"sent": 5000}


def test_cli_wrong_token_stops_at_once_naming_provider_and_variable(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 2000)
    with FakePostmark() as server:
        started = time.monotonic()
        result = campaign_dir.run("send", "1", "--yes", env=postmark_env(server, token="wrong-token"))
        elapsed = time.monotonic() - started
        assert result.returncode == 1, result.stderr
        assert "postmark" in result.stderr and "POSTMARK_SERVER_TOKEN" in result.stderr
        assert "wrong-token" not in result.stderr + result.stdout  # never echo a secret
        assert elapsed < 15
        assert all(r.status == 401 for r in server.requests) and len(server.requests) <= 4  # no retries
        assert server.counts() == {}
    day = campaign_dir.project().schedule.dates[0]
    assert ledger(store, day) == {}  # nothing marked sent, nothing in flight
    assert store.count_owed(day, campaign_dir.project().schedule.send_at(day)) == 2000


def test_cli_missing_token_is_a_configuration_error_before_anything_is_sent(campaign_dir):
    seed_subscribers(campaign_dir.store(), 3)
    with FakePostmark() as server:
        result = campaign_dir.run(
            "send", "1", "--yes", env={"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_API_URL": server.url}
        )
        assert result.returncode == 2
        assert "POSTMARK_SERVER_TOKEN" in result.stderr and "Traceback" not in result.stderr
        assert server.requests == []


def test_real_provider_refuses_plain_http_to_a_remote_host_and_the_dev_secret(campaign_dir):
    env = {**campaign_dir.env, "POSTMARK_SERVER_TOKEN": "t", "POSTMARK_API_URL": "http://api.example.com"}
    from campaign.config import load_settings

    with pytest.raises(ConfigurationError, match="POSTMARK_API_URL"):
        make_provider("postmark", load_settings(campaign_dir.root, env))
    env = {**env, "POSTMARK_API_URL": "http://127.0.0.1:9", "CAMPAIGN_SECRET_KEY": ""}
    with pytest.raises(ConfigurationError, match="CAMPAIGN_SECRET_KEY"):
        make_provider("postmark", load_settings(campaign_dir.root, env))


# -- the contract, in-process ----------------------------------------------------------------------
def test_the_exact_request_postmark_receives(campaign_dir):
    with FakePostmark() as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        (named,) = seed_subscribers(rig.store, 1, country="GB")
        (unnamed,) = seed_subscribers(rig.store, 1, start=2, names=False)
        report = rig.sender().send_day(rig.day)
        assert report.sent == 2
        assert len(server.requests) == 2  # one batch per crisis variant
        for request in server.requests:
            assert request.path == "/email/batch" and request.headers["Content-Type"] == "application/json"
            assert request.headers["Accept"] == "application/json"
        by_id = {int(m["Metadata"]["subscriber_id"]): m for r in server.requests for m in r.json}
        campaign = rig.project.schedule.campaign
        for sid, variant, name in ((named, "GB", "Reader 1"), (unnamed, rig.project.default_variant, None)):
            message = by_id[sid]
            issue = rig.project.render(rig.day, variant)
            html, text = issue.merge(
                unsubscribe_url=expected_url(sid), name=name, preferences_url=expected_preferences(sid, rig.day)
            )
            assert message["HtmlBody"] == html and message["TextBody"] == text  # the same bytes the outbox writes
            assert message["From"] == campaign.from_ and message["ReplyTo"] == campaign.reply_to
            assert message["Subject"] == issue.subject
            assert message["Tag"] == rig.day.isoformat()
            assert message["Metadata"] == {"issue": rig.day.isoformat(), "subscriber_id": str(sid)}
            assert message["TrackOpens"] is False and message["TrackLinks"] == "None"
            assert [h["Name"] for h in message["Headers"]] == [
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "List-Id",
                "Feedback-ID",
                "Message-ID",
            ]
        assert by_id[named]["To"] == "Reader 1 <reader000001@example.org>"
        assert by_id[unnamed]["To"] == "reader000002@example.org"
        rows = rig.rows()
        assert {row.status for row in rows.values()} == {"sent"}
        assert all(row.provider_message_id for row in rows.values())


def test_per_item_errors_inside_a_200_reject_only_those_recipients(campaign_dir):
    with FakePostmark(inactive={"reader000002@example.org"}) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        ids = seed_subscribers(rig.store, 3)
        seed_subscribers(rig.store, 1, emails=["user@nodot"])  # the provider refuses it (ours let it through)
        report = rig.sender().send_day(rig.day)
        assert (report.sent, report.rejected, report.failed) == (3 - 1, 2, 0)
        rows = rig.rows()
        assert rows["reader000002@example.org"].status == "rejected"
        assert "406" in rows["reader000002@example.org"].error
        assert rows["user@nodot"].status == "rejected" and "300" in rows["user@nodot"].error
        assert rig.store.subscriber_by_id(ids[1]).status == BOUNCED  # 406 suppresses the subscriber
        assert rig.store.subscriber_by_email("user@nodot").status == "active"
        assert set(server.counts()) == {"reader000001@example.org", "reader000003@example.org"}


def test_500_then_success_is_retried_and_delivered_once(campaign_dir):
    with FakePostmark(faults=once(1, Fault(500))) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 700)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert (report.sent, report.retries) == (700, 1)
        assert set(server.counts().values()) == {1} and len(server.counts()) == 700
        assert rig.ledger() == {"sent": 700}


def test_429_with_retry_after_waits_as_told_and_lowers_the_rate(campaign_dir):
    with FakePostmark(faults=once(1, rate_limited(0.6))) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 10)
        sender = rig.sender(rate=1000.0)
        started = time.monotonic()
        report = sender.send_day(rig.day)
        assert time.monotonic() - started >= 0.6
        assert report.sent == 10 and report.retries == 1
        assert sender.bucket.rate < 1000.0
        assert rig.ledger() == {"sent": 10}


def test_a_timeout_after_the_provider_accepted_is_unknown_and_never_resent_blindly(campaign_dir):
    # The server takes the first batch, then stalls past the client's read timeout.
    with FakePostmark(faults=once(1, Fault(stall=3.0, after=True))) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        rig.provider.timeout = (2.0, 1.5)
        seed_subscribers(rig.store, 800)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert (report.sent, report.unknown) == (300, 500)
        assert rig.ledger() == {"sent": 300, "unknown": 500}
        assert len(server.requests) == 2  # no blind retry
        again = rig.sender().send_day(rig.day)
        assert (again.sent, again.unknown) == (0, 500) and len(server.requests) == 2
        assert set(server.counts().values()) == {1} and len(server.counts()) == 800
        # The operator checked Postmark's activity log and decides to resend: explicit and visible.
        explicit = rig.sender().send_day(rig.day, resend_unknown=True)
        assert explicit.sent == 500 and rig.ledger() == {"sent": 800}


def test_a_dropped_connection_is_unknown(campaign_dir):
    with FakePostmark(faults=once(1, Fault(drop=True))) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 20)
        report = rig.sender().send_day(rig.day)
        assert report.unknown == 20 and rig.ledger() == {"unknown": 20}
        assert "may have been accepted" in rig.rows()["reader000001@example.org"].error


def test_persistent_5xx_fails_batches_stops_after_five_in_a_row_and_retry_failed_resends(campaign_dir):
    broken = {"on": True}
    with FakePostmark(faults=lambda n: Fault(503) if broken["on"] else None) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 3000)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert report.sent == 0 and report.failed == 5 * 500
        assert "5 batches in a row failed" in report.stopped and "--retry-failed" in report.stopped
        assert rig.ledger() == {"failed": 2500}  # the rest is still owed
        assert "503" in rig.rows()["reader000001@example.org"].error
        broken["on"] = False
        retried = rig.sender().send_day(rig.day, retry_failed=True)
        assert retried.sent == 3000 and rig.ledger() == {"sent": 3000}
        assert set(server.counts().values()) == {1}


def test_a_bad_token_in_process_releases_every_claimed_batch(campaign_dir):
    with FakePostmark(key="right") as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server, token="wrong"))
        seed_subscribers(rig.store, 3000)
        with pytest.raises(AuthenticationFailed, match="POSTMARK_SERVER_TOKEN"):
            rig.sender(concurrency=4).send_day(rig.day)
        assert rig.ledger() == {}


def test_stop_flag_lets_the_batch_in_flight_finish_and_the_next_run_continues(campaign_dir):
    with FakePostmark(delay=0.05) as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        seed_subscribers(rig.store, 3000)
        sender = rig.sender(concurrency=2)
        sender.progress = lambda n: sender.stop.set()  # stop after the first checkpoint
        report = sender.send_day(rig.day)
        assert report.stopped == "stopped by signal"
        assert 500 <= report.sent < 3000
        assert "inflight" not in rig.ledger() and "unknown" not in rig.ledger()
        rest = rig.sender().send_day(rig.day)
        assert report.sent + rest.sent == 3000
        assert set(server.counts().values()) == {1} and len(server.counts()) == 3000


def test_unsubscribed_after_the_page_was_read_is_not_sent(campaign_dir):
    with FakePostmark() as server:
        rig = make_rig(campaign_dir, server, "postmark", postmark_env(server))
        ids = seed_subscribers(rig.store, 5)
        rig.store.suppress(ids[2], "unsubscribed", "test")
        rig.sender().send_day(rig.day)
        assert "reader000003@example.org" not in server.counts() and len(server.counts()) == 4
