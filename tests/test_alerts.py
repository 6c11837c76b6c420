"""Alerts, against real local receivers: a webhook receiver over HTTP (pytest-httpserver), operator email
through the outbox or a local SMTP server, the fake Postmark answering 401, and `campaign serve` receiving
signed complaint webhooks that trip the deliverability breaker."""

from __future__ import annotations

import json
import time
from email import message_from_bytes, policy

import pytest
import requests

from campaign.alerts.center import AlertRetry, Alerts, wait_for_alerts
from campaign.alerts.kinds import AlertKind
from campaign.errors import ConfigurationError
from campaign.ledger.alerts import recent_alerts
from tests.provider_servers import FakePostmark, go_live, seed_subscribers
from tests.smtp_servers import LocalSMTP, RefusingMailbox
from tests.web_live import live_web

OPERATOR = "ops@example.org"
ORGANISER = "editor@example.org"
UNREACHABLE = "http://127.0.0.1:9/hook"  # the discard port: nothing listens


def with_alerts(campaign_dir, *, email_provider: str | None = "outbox", organisers: bool = False) -> None:
    lines = ["alerts:", f'  operators: ["{OPERATOR}"]']
    if organisers:
        lines.append(f'  organisers: ["{ORGANISER}"]')
    if email_provider:
        lines.append(f"  email_provider: {email_provider}")
    path = campaign_dir.root / "schedule.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def posted(receiver) -> list[dict]:
    return [json.loads(request.data) for request, _ in receiver.log]


def alert_mails(campaign_dir) -> list:
    folder = campaign_dir.outbox / "alerts"
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.rglob("*.eml"))]


def test_postmark_401_pauses_alerts_once_on_each_channel_and_names_no_secret(campaign_dir, receiver):
    go_live(campaign_dir)
    with_alerts(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 20)
    store.close()
    with FakePostmark() as server:
        env = {
            "CAMPAIGN_PROVIDER": "postmark",
            "POSTMARK_SERVER_TOKEN": "wrong-token-s3cret",
            "POSTMARK_API_URL": server.url,
            "CAMPAIGN_ALERT_WEBHOOK_URL": receiver.url_for("/hook"),
        }
        first = campaign_dir.run("send", "1", "--yes", env=env)
        assert first.returncode != 0 and "POSTMARK_SERVER_TOKEN" in first.stderr
        assert "paused" in first.stderr
        second = campaign_dir.run("send", "1", "--yes", env=env)
        assert second.returncode != 0 and "paused" in second.stderr
    hooks = posted(receiver)
    assert [h["kind"] for h in hooks] == [AlertKind.CREDENTIALS]
    assert set(hooks[0]) >= {"text", "kind", "day", "counts", "campaign", "time"}
    assert hooks[0]["day"] == "2027-09-01" and "Hope and Healing" in hooks[0]["campaign"]
    mails = alert_mails(campaign_dir)
    assert len(mails) == 1 and mails[0]["To"] == OPERATOR
    assert "List-Unsubscribe" not in mails[0]
    for text in [json.dumps(hooks), mails[0].as_string()]:
        assert "wrong-token-s3cret" not in text and "reader0000" not in text
    pause = campaign_dir.store().get_state("pause")
    assert pause["cause"] == "credentials"
    # the same cause, raised again the same day, adds no second alert
    store = campaign_dir.store()
    alerts = Alerts(campaign_dir.settings, store.engine, campaign_dir.project().schedule)
    assert alerts.raise_alert(AlertKind.CREDENTIALS, "again", day=pause_day(), cause="credentials") is None
    wait_for_alerts(10)
    assert len(posted(receiver)) == 1
    store.close()
    # resume shows why and needs --yes
    refused = campaign_dir.run("resume")
    assert refused.returncode == 2 and "credentials" in refused.stdout and "--yes" in refused.stderr
    assert campaign_dir.run("resume", "--yes", check=True).returncode == 0
    assert campaign_dir.store().get_state("pause") is None


def pause_day():
    from datetime import date

    return date(2027, 9, 1)


def test_an_unreachable_webhook_never_delays_the_send_and_is_listed_as_failed(campaign_dir):
    go_live(campaign_dir)
    with_alerts(campaign_dir, email_provider=None)  # alert email through the campaign's provider: SMTP here
    mailbox = RefusingMailbox({"reader000002@example.org": ["451 4.3.0 try later"]})
    with LocalSMTP(mailbox) as server:
        env = {**server.env, "CAMPAIGN_ALERT_WEBHOOK_URL": UNREACHABLE}
        store = campaign_dir.store()
        seed_subscribers(store, 5)
        store.close()
        started = time.monotonic()
        result = campaign_dir.run("send", "1", "--yes", env=env)
        took = time.monotonic() - started
    assert result.returncode == 1 and "sent 4, failed 1" in result.stdout
    assert "Traceback" not in result.stderr
    assert took < 40  # the webhook's back-off (4 attempts) ran after the send, bounded
    listed = campaign_dir.run("alerts", "list", env=env, check=True).stdout
    assert AlertKind.SEND_INCOMPLETE in listed
    assert "webhook failed (4 attempts: webhook unreachable" in listed
    assert "operators sent" in listed
    assert "127.0.0.1:9" not in listed  # the URL is a secret: never shown
    # the operator's alert went through the same SMTP server, as transactional mail (not a ledger row)
    to_operator = [m for rcpts, m, _ in mailbox.messages if rcpts == [OPERATOR]]
    assert len(to_operator) == 2  # the alert and the daily report
    assert sum(b"not complete" in m for m in to_operator) == 1 and sum(b"report:" in m for m in to_operator) == 1
    assert OPERATOR not in {row.email for row in campaign_dir.store().deliveries_for(pause_day())}


def test_alerts_test_reaches_every_channel_and_fails_when_one_does_not(campaign_dir, receiver):
    with_alerts(campaign_dir, organisers=True)
    ok = campaign_dir.run("alerts", "test", env={"CAMPAIGN_ALERT_WEBHOOK_URL": receiver.url_for("/hook")}, check=True)
    assert "webhook: sent" in ok.stdout and "operators: sent" in ok.stdout and "organisers: sent" in ok.stdout
    assert [h["kind"] for h in posted(receiver)] == [AlertKind.TEST]
    assert sorted(m["To"] for m in alert_mails(campaign_dir)) == [ORGANISER, OPERATOR]
    bad = campaign_dir.run("alerts", "test", env={"CAMPAIGN_ALERT_WEBHOOK_URL": UNREACHABLE})
    assert bad.returncode == 1 and "webhook: failed" in bad.stdout and "Traceback" not in bad.stderr


def test_the_webhook_url_must_be_https_except_on_this_machine(campaign_dir):
    for url in ("http://secret-hook.test/x", "ftp://127.0.0.1/x", "https://", "https://a.example/\nx"):
        result = campaign_dir.run("alerts", "list", env={"CAMPAIGN_ALERT_WEBHOOK_URL": url})
        assert result.returncode == 2 and "CAMPAIGN_ALERT_WEBHOOK_URL" in result.stderr
        assert "secret-hook" not in result.stderr
    with pytest.raises(ConfigurationError):
        from campaign.config import load_settings

        load_settings(campaign_dir.root, {**campaign_dir.env, "CAMPAIGN_ALERT_WEBHOOK_URL": "http://10.0.0.1/x"})


def test_alert_settings_are_validated_with_file_line_and_field(campaign_dir):
    path = campaign_dir.root / "schedule.yaml"
    text = path.read_text(encoding="utf-8")
    line = text.count("\n") + 3
    path.write_text(text + '\nalerts:\n  operators: ["not an address"]\nbreaker:\n  complaint_rate: 2\n')
    result = campaign_dir.run("validate")
    assert result.returncode == 2
    assert f"schedule.yaml:{line}: alerts.operators" in result.stderr
    assert f"schedule.yaml:{line + 2}: breaker.complaint_rate" in result.stderr


def test_retries_back_off_and_a_retry_later_delivers(campaign_dir, httpserver):
    store = campaign_dir.store()
    settings = campaign_dir.settings
    calls: list[float] = []

    def flaky(request):
        from werkzeug import Response

        calls.append(time.monotonic())
        return Response("busy", status=503 if len(calls) < 3 else 200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(flaky)
    import dataclasses

    settings = dataclasses.replace(settings, alert_webhook_url=httpserver.url_for("/hook"))
    alerts = Alerts(settings, store.engine, None, retry=AlertRetry(attempts=4, initial=0.2, maximum=1))
    alerts.raise_alert(AlertKind.TEST, "flaky receiver", cause="x")
    wait_for_alerts(20)
    assert len(calls) == 3 and calls[2] - calls[1] >= calls[1] - calls[0] >= 0.15  # exponential back-off
    row = recent_alerts(store.engine)[0]
    assert row.sends["webhook"][:2] == ("sent", 3)


# -- the deliverability breaker ---------------------------------------------------------------------------
POSTMARK_HOOKS = {"POSTMARK_WEBHOOK_USER": "hooks", "POSTMARK_WEBHOOK_PASSWORD": "s3cret-pass"}


def spam_complaint(email: str) -> dict:
    """A Postmark SpamComplaint webhook, as in Postmark's docs and django-anymail's
    tests/test_postmark_webhooks.py (test_spam_complaint_event), addresses replaced."""
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "broadcast",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Metadata": {},
        "ServerID": 1234,
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
        "Email": email,
        "From": "hello@example.org",
        "BouncedAt": "2027-09-01T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "Welcome",
    }


def test_four_complaints_in_1000_pause_the_series_and_resume_needs_yes(campaign_dir, receiver):
    with_alerts(campaign_dir, organisers=True)
    campaign_dir.env["CAMPAIGN_ALERT_WEBHOOK_URL"] = receiver.url_for("/hook")
    store = campaign_dir.store()
    seed_subscribers(store, 1000)
    store.close()
    campaign_dir.run("send", "1", "--yes", check=True)
    with live_web(campaign_dir, links_to_server=False, env=POSTMARK_HOOKS) as web:
        for i in range(1, 5):
            response = requests.post(
                f"{web.url}/webhooks/postmark",
                json=spam_complaint(f"reader{i:06d}@example.org"),
                auth=("hooks", "s3cret-pass"),
                timeout=10,
            )
            assert response.status_code == 200
        wait_for_alerts(20)
    pause = campaign_dir.store().get_state("pause")
    assert pause["cause"] == "breaker" and "spam complaints" in pause["reason"]
    assert pause["figures"]["sent"] == 1000 and pause["figures"]["complaints"] == 3  # tripped at the 3rd
    status = campaign_dir.run("status", check=True).stdout
    assert "PAUSED" in status and "deliverability breaker" in status
    figures = json.loads(campaign_dir.run("status", "--json", check=True).stdout)
    assert figures["paused"]["cause"] == "breaker" and "spam complaints" in figures["paused"]["reason"]
    assert figures["breaker"]["tripped"] is True and figures["breaker"]["figures"]["complaints"] == 4
    refused = campaign_dir.run("send", "2", "--yes")
    assert refused.returncode != 0 and "deliverability breaker" in refused.stderr
    hooks = [h for h in posted(receiver) if h["kind"] == AlertKind.BREAKER_TRIPPED]
    assert len(hooks) == 1 and hooks[0]["counts"]["complaints"] == 3 and hooks[0]["counts"]["sent"] == 1000
    assert "0.30%" in hooks[0]["text"] and "What to look at" in hooks[0]["text"]
    assert "reader0000" not in json.dumps(hooks)
    assert {m["To"] for m in alert_mails(campaign_dir)} == {OPERATOR, ORGANISER}
    shown = campaign_dir.run("resume")
    assert shown.returncode == 2 and "complaints 3" in shown.stdout and "sent 1000" in shown.stdout
    campaign_dir.run("resume", "--yes", check=True)
    assert campaign_dir.store().get_state("pause") is None


def test_a_send_in_progress_stops_after_its_batch_when_the_breaker_trips(campaign_dir):
    from tests.provider_servers import make_rig

    class _NoServer:
        url = ""

    rig = make_rig(campaign_dir, _NoServer(), "outbox", {})
    seed_subscribers(rig.store, 50)
    from campaign.timing.holds import BREAKER, hold_series

    sender = rig.sender(concurrency=1)
    sender.provider.max_batch = 10
    sender.sources.max_batch = 10
    sent_batches = []

    def progress(n):
        sent_batches.append(n)
        if len(sent_batches) == 2:
            from campaign.clock import utcnow

            hold_series(rig.store, cause=BREAKER, reason="deliverability breaker: test", now=utcnow())

    sender.progress = progress
    from campaign.errors import PausedError

    with pytest.raises(PausedError, match="deliverability breaker"):
        sender.send_day(rig.day)
    assert 20 <= rig.ledger()["sent"] <= 30 and rig.ledger()["sent"] < 50


def test_the_daily_report_reaches_the_operators_once_and_never_the_webhook(campaign_dir, receiver):
    with_alerts(campaign_dir)
    campaign_dir.env["CAMPAIGN_ALERT_WEBHOOK_URL"] = receiver.url_for("/hook")
    store = campaign_dir.store()
    seed_subscribers(store, 10)
    store.close()
    campaign_dir.run("send", "1", "--yes", check=True)
    campaign_dir.run("send", "1", "--yes", check=True)  # nothing to do: no second report
    reports = [m for m in alert_mails(campaign_dir) if "report:" in m["Subject"]]
    assert len(reports) == 1 and reports[0]["To"] == OPERATOR
    body = reports[0].get_body(("plain",)).get_content()
    assert "This day: sent 10, failed 0, unknown 0, bounces 0, complaints 0, unsubscribes 0" in body
    assert "The series: sent 10" in body
    assert "Next: day 2, Thu 02 Sep 09:00 EDT: Why we talk about mental health this September" in body
    assert "Archive: https://news.example.org/archive/" in body
    assert "@example.org" not in body.replace(OPERATOR, "")
    assert posted(receiver) == []


def test_an_alert_never_carries_an_address_even_when_a_provider_quotes_one(campaign_dir, receiver):
    import dataclasses

    store = campaign_dir.store()
    settings = dataclasses.replace(campaign_dir.settings, alert_webhook_url=receiver.url_for("/hook"))
    quoted = "stopped: smtp DATA refused: 554 5.7.1 <reader000006@example.org>: Recipient address rejected"
    Alerts(settings, store.engine, None).raise_alert(AlertKind.SEND_INCOMPLETE, quoted, cause="x")
    wait_for_alerts(10)
    assert "reader000006" not in recent_alerts(store.engine)[0].text
    assert posted(receiver)[0]["text"].endswith("554 5.7.1 <<address>>: Recipient address rejected")


def test_a_failed_alert_is_tried_again_later_and_then_shown_sent(campaign_dir, receiver):
    import dataclasses

    store = campaign_dir.store()
    fast = AlertRetry(attempts=2, initial=0.05, maximum=0.1)
    down = dataclasses.replace(campaign_dir.settings, alert_webhook_url=UNREACHABLE)
    Alerts(down, store.engine, None, retry=fast).raise_alert(AlertKind.DAY_MISSED, "day 3 missed", cause="3")
    wait_for_alerts(10)
    assert recent_alerts(store.engine)[0].sends["webhook"][:2] == ("failed", 2)
    up = dataclasses.replace(campaign_dir.settings, alert_webhook_url=receiver.url_for("/hook"))
    assert Alerts(up, store.engine, None, retry=fast).retry_unsent() == 1  # what `campaign run` does every 5 min
    assert recent_alerts(store.engine)[0].sends["webhook"][:2] == ("sent", 3)
    assert [h["text"] for h in posted(receiver)] == [f"[{campaign_dir.root.name}] day 3 missed"]
