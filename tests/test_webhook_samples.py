"""Every event counts: anymail-style samples of provider webhooks against a real `campaign serve`.

Sources (payload shapes copied, addresses and tokens replaced):
- Mailgun legacy form posts: django-anymail tests/test_mailgun_webhooks.py (MailgunLegacyTestCase:
  test_dropped_bounce, test_dropped_spam, test_invalid_mailbox, test_metadata_key_conflicts), signed like
  `mailgun_sign_legacy_payload` — HMAC-SHA256 of timestamp + token as form fields.
- Postmark Bounce without `Email`: django-anymail issue #447 (a Bounce record of type "SMTPApiError" whose
  Email is missing); Postmark retries a non-2xx answer for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import requests
from sqlalchemy import select

from campaign.ledger.schema import events
from campaign.ledger.states import ACTIVE, BOUNCED, COMPLAINED, UNSUBSCRIBED
from tests.conftest import people
from tests.web_live import add_subscribers, live_web

KEY = "key-for-mailgun-webhooks"
BOUNCER, SPAMMER, LEAVER, STAYER = (
    "reader00001@example.org",
    "reader00002@example.org",
    "reader00003@example.org",
    "reader00004@example.org",
)


def signed_legacy(fields: dict, *, key: str = KEY) -> dict:
    """mailgun_sign_legacy_payload: timestamp, token and signature added as form fields."""
    fields = dict(fields)
    fields.setdefault("timestamp", str(int(time.time())))
    fields.setdefault("token", secrets.token_hex(25))
    timestamp = fields["timestamp"][-1] if isinstance(fields["timestamp"], list) else fields["timestamp"]
    token = fields["token"][-1] if isinstance(fields["token"], list) else fields["token"]
    fields["signature"] = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return fields


def statuses(store) -> dict[str, str]:
    return {s.email: s.status for s in store.list_subscribers()}


def test_mailgun_legacy_forms_bounce_drop_607_and_606_are_applied(campaign_dir):
    add_subscribers(campaign_dir, people(4))
    with live_web(campaign_dir, env={"MAILGUN_WEBHOOK_SIGNING_KEY": KEY}) as web:
        url = f"{web.url}/webhooks/mailgun"
        bounced = signed_legacy(  # test_invalid_mailbox: a permanent bounce, url-encoded
            {
                "code": "550",
                "error": "550 5.1.1 The email account that you tried to reach does not exist.",
                "event": "bounced",
                "recipient": BOUNCER,
                "domain": "mg.example.org",
                "message-headers": '[["To", "reader00001@example.org"], ["Subject", "Webhook testing"]]',
            }
        )
        assert requests.post(url, data=bounced, timeout=10).status_code == 200
        spam = signed_legacy(  # test_dropped_spam: a 607 drop, sent as multipart/form-data
            {
                "code": "607",
                "description": "Not delivering to a user who marked your messages as spam",
                "reason": "hardfail",
                "event": "dropped",
                "recipient": SPAMMER,
            }
        )
        multipart = {k: (None, v) for k, v in spam.items()}
        assert requests.post(url, files=multipart, timeout=10).status_code == 200
        unsubscribed = signed_legacy(
            {
                "code": "606",
                "description": "Not delivering to unsubscribed address",
                "event": "dropped",
                "reason": "hardfail",
                "recipient": LEAVER,
            }  # fmt: skip
        )
        assert requests.post(url, data=unsubscribed, timeout=10).status_code == 200
        # user variables named like Mailgun's fields: Mailgun's own signature fields come last, the event's first
        conflict = signed_legacy(
            {
                "event": ["clicked", "metadata-event"],
                "recipient": [STAYER, "metadata-recipient"],
                "timestamp": ["metadata-timestamp", str(int(time.time()))],
                "token": ["metadata-token", secrets.token_hex(25)],
            }  # fmt: skip
        )
        conflict["signature"] = ["metadata-signature", conflict["signature"]]
        assert requests.post(url, data=conflict, timeout=10).status_code == 200
        # wrong key, replay and stale timestamps are refused like the JSON webhooks
        forged = signed_legacy({"event": "bounced", "recipient": STAYER}, key="not-the-key")
        assert requests.post(url, data=forged, timeout=10).status_code == 401
        assert requests.post(url, data=bounced, timeout=10).status_code == 401  # the same token again
        stale = signed_legacy({"event": "bounced", "recipient": STAYER, "timestamp": str(int(time.time()) - 3600)})
        assert requests.post(url, data=stale, timeout=10).status_code == 401
        found = statuses(web.store)
        with web.store.engine.connect() as conn:
            kinds = [row.kind for row in conn.execute(select(events).order_by(events.c.id))]
    assert found == {BOUNCER: BOUNCED, SPAMMER: COMPLAINED, LEAVER: UNSUBSCRIBED, STAYER: ACTIVE}
    # a click is reduced to a per-day count (engagement: nothing about the reader is kept), never stored as an event
    assert kinds == ["bounce", "complaint", "unsubscribe"]


def test_a_postmark_bounce_without_email_answers_200_and_is_stored(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    env = {"POSTMARK_WEBHOOK_USER": "hooks", "POSTMARK_WEBHOOK_PASSWORD": "s3cret-pass"}
    record = {  # anymail #447: no "Email"
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "SMTPApiError",
        "TypeCode": 1100,
        "Name": "SMTP API error",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Description": "Error parsing X-PM-Tag header",
        "Details": "",
        "BouncedAt": "2027-09-01T09:01:00Z",
        "Inactive": False,
        "CanActivate": True,
        "MessageStream": "broadcast",
    }
    with live_web(campaign_dir, env=env) as web:
        response = requests.post(f"{web.url}/webhooks/postmark", json=record, auth=("hooks", "s3cret-pass"), timeout=10)
        assert response.status_code == 200
        with web.store.engine.connect() as conn:
            stored = conn.execute(select(events)).all()
        assert len(stored) == 1 and stored[0].email is None and "SMTPApiError" in stored[0].payload
        assert set(statuses(web.store).values()) == {ACTIVE}
