"""Mailgun against a local server that follows /v3/<domain>/messages (multipart, recipient-variables)."""

from __future__ import annotations

import pytest

from campaign.config import load_settings
from campaign.delivery.tokens import Tokens
from campaign.errors import AuthenticationFailed, ConfigurationError
from campaign.providers import make_provider
from campaign.series.links import unsubscribe_url
from tests.conftest import TEST_SECRET
from tests.provider_servers import FakeMailgun, Fault, expected_preferences, go_live, make_rig, once, seed_subscribers


def mailgun_env(server, key="test-key", domain="mg.example.org"):
    return {
        "CAMPAIGN_PROVIDER": "mailgun",
        "MAILGUN_API_KEY": key,
        "MAILGUN_DOMAIN": domain,
        "MAILGUN_API_URL": server.url,
    }


def expected_url(subscriber_id: int) -> str:
    return unsubscribe_url("https://news.example.org", Tokens(TEST_SECRET).unsubscribe(subscriber_id))


def test_one_message_per_call_with_its_own_headers_and_what_each_reader_gets(campaign_dir):
    with FakeMailgun() as server:
        rig = make_rig(campaign_dir, server, "mailgun", mailgun_env(server))
        ids = seed_subscribers(rig.store, 2)
        odd = seed_subscribers(rig.store, 1, emails=["amp@example.org"], names=["Tom & <Jerry>"])[0]
        report = rig.sender().send_day(rig.day)
        assert report.sent == 3
        assert len(server.requests) == 3
        by_to = {}
        for request in server.requests:
            assert request.path == "/v3/mg.example.org/messages"
            assert request.headers["Content-Type"].startswith("multipart/form-data")
            assert request.headers["Authorization"].startswith("Basic ")
            form = request.form
            (to,) = form["to"]  # never a shared To list
            by_to[to] = form
            assert len(form["html"]) == 1 and len(form["text"]) == 1
            assert form["h:List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
            assert form["o:tag"] == [rig.day.isoformat()] and form["o:tracking"] == ["no"]
            assert not any("%recipient" in v for k, values in form.items() if k.startswith("h:") for v in values)
            assert "recipient-variables" not in form
        assert set(by_to) == {
            "Reader 1 <reader000001@example.org>",
            "Reader 2 <reader000002@example.org>",
            '"Tom & <Jerry>" <amp@example.org>',
        }
        issue = rig.project.render(rig.day)
        delivered = {d.to: d for d in server.delivered}
        for sid, email, name in [
            (ids[0], "reader000001@example.org", "Reader 1"),
            (odd, "amp@example.org", "Tom & <Jerry>"),
        ]:
            html, text = issue.merge(
                unsubscribe_url=expected_url(sid), name=name, preferences_url=expected_preferences(sid, rig.day)
            )
            assert (delivered[email].html, delivered[email].text) == (html, text)
            assert delivered[email].headers["List-Unsubscribe"] == f"<{expected_url(sid)}>"
            assert delivered[email].headers["Message-ID"].endswith(">")  # our deterministic id
        message_ids = {row.provider_message_id for row in rig.rows().values()}
        assert len(message_ids) == 3 and all(m.endswith("@mg.example.org>") for m in message_ids)


def test_every_reader_gets_one_message_and_calls_run_concurrently(campaign_dir):
    with FakeMailgun() as server:
        rig = make_rig(campaign_dir, server, "mailgun", mailgun_env(server))
        seed_subscribers(rig.store, 150)
        assert rig.sender().send_day(rig.day).sent == 150
        assert [len(r.form["to"]) for r in server.requests] == [1] * 150
        assert set(server.counts().values()) == {1} and rig.ledger() == {"sent": 150}


def test_unknown_domain_stops_the_send_naming_mailgun_domain(campaign_dir):
    with FakeMailgun(domain="mg.example.org") as server:
        rig = make_rig(campaign_dir, server, "mailgun", mailgun_env(server, domain="eu.example.org"))
        seed_subscribers(rig.store, 50)
        with pytest.raises(AuthenticationFailed) as caught:
            rig.sender().send_day(rig.day)
        assert "MAILGUN_DOMAIN" in str(caught.value) and "api.eu.mailgun.net" in str(caught.value)
        assert rig.ledger() == {} and server.counts() == {}


def test_cli_bad_key_exits_1_naming_the_variable(campaign_dir):
    go_live(campaign_dir)
    seed_subscribers(campaign_dir.store(), 20)
    with FakeMailgun() as server:
        result = campaign_dir.run("send", "1", "--yes", env=mailgun_env(server, key="wrong"))
        assert result.returncode == 1
        assert "mailgun" in result.stderr and "MAILGUN_API_KEY" in result.stderr
        assert server.counts() == {}


def test_a_500_is_recorded_unknown_not_retried_because_mailgun_may_have_sent_it(campaign_dir):
    with FakeMailgun(faults=once(1, Fault(500, after=True))) as server:
        rig = make_rig(campaign_dir, server, "mailgun", mailgun_env(server))
        seed_subscribers(rig.store, 5)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert report.unknown == 1 and report.sent == 4 and len(server.requests) == 5
        assert rig.ledger() == {"unknown": 1, "sent": 4}
        assert set(server.counts().values()) == {1}  # it did go out: no duplicate


def test_a_503_is_retried_and_delivered_once(campaign_dir):
    with FakeMailgun(faults=once(1, Fault(503))) as server:
        rig = make_rig(campaign_dir, server, "mailgun", mailgun_env(server))
        seed_subscribers(rig.store, 5)
        report = rig.sender(concurrency=1).send_day(rig.day)
        assert (report.sent, report.retries) == (5, 1)
        assert set(server.counts().values()) == {1} and rig.ledger() == {"sent": 5}


def test_missing_domain_is_a_configuration_error(campaign_dir):
    env = {**campaign_dir.env, "MAILGUN_API_KEY": "k"}
    with pytest.raises(ConfigurationError, match="MAILGUN_DOMAIN"):
        make_provider("mailgun", load_settings(campaign_dir.root, env))
