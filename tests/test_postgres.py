"""On a real PostgreSQL (started by the tests): signed Mailgun and Resend bounces through the real web app
mark the subscriber bounced (psycopg 3 reports no rowcount after an INSERT: the replay guard must not
depend on it), and a whole `campaign send` writes the ledger once per subscriber."""

from __future__ import annotations

import base64
import json
import secrets

import requests

from campaign.ledger.states import ACTIVE, BOUNCED
from tests.conftest import people
from tests.test_web_webhooks import _mailgun_body, _svix_headers
from tests.web_live import add_subscribers, live_web

ALICE, BOB = "reader00001@example.org", "reader00002@example.org"


def _statuses(store) -> dict[str, str]:
    return {s.email: s.status for s in store.list_subscribers()}


def test_a_signed_mailgun_bounce_marks_the_subscriber_bounced_on_postgresql(pg_campaign_dir):
    assert pg_campaign_dir.env["CAMPAIGN_DATABASE_URL"].startswith("postgresql+psycopg://")
    add_subscribers(pg_campaign_dir, people(2))
    key = "key-" + secrets.token_hex(16)
    with live_web(pg_campaign_dir, env={"MAILGUN_WEBHOOK_SIGNING_KEY": key}) as web:
        url = f"{web.url}/webhooks/mailgun"
        body = _mailgun_body(key, {"event": "failed", "severity": "permanent", "recipient": ALICE, "reason": "bounce"})
        first = requests.post(url, data=body, timeout=10)
        assert first.status_code == 200, first.text
        assert _statuses(web.store) == {ALICE: BOUNCED, BOB: ACTIVE}
        assert requests.post(url, data=body, timeout=10).status_code == 401  # the replay is refused


def test_a_signed_resend_bounce_marks_the_subscriber_bounced_on_postgresql(pg_campaign_dir):
    add_subscribers(pg_campaign_dir, people(2))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with live_web(pg_campaign_dir, env={"RESEND_WEBHOOK_SECRET": secret}) as web:
        url = f"{web.url}/webhooks/resend"
        body = json.dumps(
            {
                "type": "email.bounced",
                "created_at": "2027-09-02T09:00:01Z",
                "data": {"email_id": "e-1", "to": [ALICE], "bounce": {"type": "Permanent", "message": "hard bounce"}},
            }
        ).encode()
        first = requests.post(url, data=body, headers=_svix_headers(secret, body, msg_id="msg_pg"), timeout=10)
        assert first.status_code == 200 and first.json().get("duplicate") is not True, first.text
        assert _statuses(web.store) == {ALICE: BOUNCED, BOB: ACTIVE}
        again = requests.post(url, data=body, headers=_svix_headers(secret, body, msg_id="msg_pg"), timeout=10)
        assert again.status_code == 200 and again.json()["duplicate"] is True


def test_campaign_send_on_postgresql_sends_each_subscriber_once(pg_campaign_dir):
    pg_campaign_dir.run("subscribers", "import", str(pg_campaign_dir.write_csv(people(30))), check=True)
    pg_campaign_dir.run("send", "1", "--yes", check=True)
    pg_campaign_dir.run("send", "1", "--yes", check=True)  # a second run sends nothing
    sent = sorted(p.name.split("-", 1)[1] for p in (pg_campaign_dir.outbox / "2027-09-01").glob("*.eml"))
    assert sent == [f"reader{i:05d}@example.org.eml" for i in range(1, 31)]
    store = pg_campaign_dir.store()
    try:
        assert store.count_in_state(pg_campaign_dir.project().schedule.dates[0], "sent") == 30
    finally:
        store.close()
