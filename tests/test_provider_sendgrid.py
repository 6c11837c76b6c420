"""SendGrid against a local server that follows the v3 mail/send contract (merge payloads)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from campaign.delivery.tokens import Tokens
from campaign.errors import AuthenticationFailed
from campaign.series.links import unsubscribe_url
from tests.conftest import TEST_SECRET
from tests.provider_servers import FakeSendGrid, Fault, expected_preferences, go_live, make_rig, once, seed_subscribers


def sendgrid_env(server, key="test-key"):
    return {"CAMPAIGN_PROVIDER": "sendgrid", "SENDGRID_API_KEY": key, "SENDGRID_API_URL": server.url}


def expected_url(subscriber_id: int) -> str:
    return unsubscribe_url("https://news.example.org", Tokens(TEST_SECRET).unsubscribe(subscriber_id))


def test_one_shared_content_many_personalizations_and_what_each_reader_gets(campaign_dir):
    with FakeSendGrid() as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        ids = seed_subscribers(rig.store, 3)
        nameless = seed_subscribers(rig.store, 1, start=4, names=False)[0]
        odd = seed_subscribers(rig.store, 1, emails=["obrien@example.org"], names=['Zoë "Z" <O\'Brien> & co'])[0]
        report = rig.sender().send_day(rig.day)
        assert report.sent == 5
        (request,) = server.requests
        assert request.path == "/v3/mail/send" and request.headers["Authorization"] == "Bearer test-key"
        mail = request.json
        assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]  # the HTML travels once
        assert request.body.count(b"</html>") == 1
        assert len(mail["personalizations"]) == 5
        assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["tracking_settings"]["click_tracking"] == {"enable": False}
        assert mail["categories"] == [rig.day.isoformat()]
        campaign = rig.project.schedule.campaign
        assert mail["from"] == {"email": "hello@example.org", "name": "Mind Matters Awareness"}
        assert mail["reply_to"] == {"email": campaign.reply_to}
        issue = rig.project.render(rig.day)
        delivered = {d.to: d for d in server.delivered}
        for sid, email, name in [
            (ids[0], "reader000001@example.org", "Reader 1"),
            (nameless, "reader000004@example.org", None),
            (odd, "obrien@example.org", 'Zoë "Z" <O\'Brien> & co'),
        ]:
            d = delivered[email]
            html, text = issue.merge(
                unsubscribe_url=expected_url(sid), name=name, preferences_url=expected_preferences(sid, rig.day)
            )
            assert (d.html, d.text) == (html, text)  # substitutions = our own merge
            assert d.headers["List-Unsubscribe"] == f"<{expected_url(sid)}>"
            assert d.extra["custom_args"] == {"issue": rig.day.isoformat(), "subscriber_id": str(sid)}
            assert d.extra["name"] == name
        message_ids = {row.provider_message_id for row in rig.rows().values()}
        assert len(message_ids) == 1 and None not in message_ids  # X-Message-Id, one per request


def test_batches_of_at_most_1000_personalizations(campaign_dir):
    with FakeSendGrid() as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        seed_subscribers(rig.store, 2500)
        report = rig.sender().send_day(rig.day)
        assert report.sent == 2500
        assert sorted(len(r.json["personalizations"]) for r in server.requests) == [500, 1000, 1000]
        assert set(server.counts().values()) == {1} and rig.ledger() == {"sent": 2500}


def test_the_same_address_twice_goes_out_in_separate_requests(campaign_dir):
    with FakeSendGrid() as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        ids = seed_subscribers(rig.store, 2)
        sender = rig.sender()
        from campaign.providers.base import Batch

        with rig.store.engine.connect() as conn:
            recipients = [
                sender.recipient(row, rig.day)
                for row in conn.execute(rig.store.owed_query(rig.day, sender.cutoff(rig.day)))
            ]
        recipients.sort(key=lambda r: r.subscriber_id)
        twin = replace(recipients[0], subscriber_id=ids[1], email=recipients[0].email.upper())
        batch = Batch(
            "b1", rig.project.render(rig.day), (recipients[0], twin), sender.identity(rig.day), sent_at=sender.clock()
        )
        results = rig.provider.send_batch(batch)
        assert [r.ok for r in results] == [True, True]
        assert [len(r.json["personalizations"]) for r in server.requests] == [1, 1]
        assert all(r.status == 202 for r in server.requests)


def test_429_waits_until_x_ratelimit_reset(campaign_dir):
    reset = {"at": 0.0}

    def plan(number):
        if number == 1:
            reset["at"] = time.time() + 0.8
            return Fault(
                429,
                headers={
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{reset['at']:.3f}",
                },
            )
        return None

    with FakeSendGrid(faults=plan) as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        seed_subscribers(rig.store, 10)
        report = rig.sender().send_day(rig.day)
        assert report.sent == 10 and report.retries == 1
        assert time.time() >= reset["at"] - 0.05
        second = server.requests[1]
        assert second.status == 202
        assert set(server.counts().values()) == {1}


def test_a_400_fails_the_batch_with_sendgrids_reason(campaign_dir):
    body = {
        "errors": [
            {"message": "The from address does not match a verified Sender Identity.", "field": "from", "help": None}
        ]
    }
    with FakeSendGrid(faults=once(1, Fault(400, body=body))) as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        seed_subscribers(rig.store, 3)
        report = rig.sender().send_day(rig.day)
        assert report.failed == 3 and len(server.requests) == 1  # a 4xx is not retried
        assert "verified Sender Identity. (from)" in rig.rows()["reader000001@example.org"].error
        assert rig.ledger() == {"failed": 3}


def test_a_bad_key_stops_and_leaves_everyone_owed(campaign_dir):
    with FakeSendGrid() as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server, key="nope"))
        seed_subscribers(rig.store, 1500)
        with pytest.raises(AuthenticationFailed) as caught:
            rig.sender().send_day(rig.day)
        assert "sendgrid" in str(caught.value) and "SENDGRID_API_KEY" in str(caught.value)
        assert rig.ledger() == {} and server.counts() == {}


def test_cli_sends_through_sendgrid(campaign_dir):
    go_live(campaign_dir)
    seed_subscribers(campaign_dir.store(), 1200)
    with FakeSendGrid() as server:
        result = campaign_dir.run("send", "1", "--yes", env=sendgrid_env(server), check=True)
        assert "sent 1200" in result.stdout
        assert len(server.counts()) == 1200 and len(server.requests) == 2
        assert json.loads(server.requests[0].body)["subject"]


def test_names_with_a_comma_or_semicolon_are_quoted_so_sendgrid_does_not_drop_them(campaign_dir):
    names = ["Doe, Jane", "Roe; Rick", 'Say "hi", \\ bye', "Plain Name", "Zoë Ünïcode"]
    with FakeSendGrid() as server:
        rig = make_rig(campaign_dir, server, "sendgrid", sendgrid_env(server))
        seed_subscribers(rig.store, len(names), names=names)
        assert rig.sender().send_day(rig.day).sent == len(names)
        assert server.dropped == [] and len(server.delivered) == len(names)
        sent = [to["name"] for p in server.requests[0].json["personalizations"] for to in p["to"]]
        assert sent == ['"Doe, Jane"', '"Roe; Rick"', '"Say \\"hi\\", \\\\ bye"', "Plain Name", "Zoë Ünïcode"]
        assert "\\u00eb" in server.requests[0].body.decode()  # JSON-escaped UTF-8, never RFC 2047 words
        assert b"=?utf-8?" not in server.requests[0].body
        mail = server.requests[0].json
        assert mail["headers"]["Feedback-ID"].startswith(f"{rig.day.isoformat()}:")
