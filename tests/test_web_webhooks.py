"""Provider webhooks, with bodies signed in the test by real keys: an ECDSA P-256 key pair (SendGrid), an
HMAC key (Mailgun), a Svix secret via the `svix` package (Resend), basic auth (Postmark)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, text
from svix.webhooks import Webhook as SvixWebhook

from campaign.errors import ConfigurationError
from campaign.ledger.schema import events
from campaign.ledger.states import ACTIVE, BOUNCED, COMPLAINED, UNSUBSCRIBED
from campaign.web import create_app
from tests.conftest import people
from tests.web_live import add_subscribers, live_web

ALICE, BOB, CAROL = "reader00001@example.org", "reader00002@example.org", "reader00003@example.org"


def _ec_keys():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, base64.b64encode(der).decode(), pem


def _sendgrid_headers(private, body: bytes, timestamp: str | None = None) -> dict:
    timestamp = timestamp or str(int(time.time()))
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def _mailgun_body(key: str, event_data: dict, *, timestamp: int | None = None, token: str | None = None) -> bytes:
    timestamp = str(timestamp if timestamp is not None else int(time.time()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}
    ).encode()


def _svix_headers(secret: str, body: bytes, *, msg_id: str | None = None, at: datetime | None = None) -> dict:
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    at = at or datetime.now(UTC)
    signature = SvixWebhook(secret).sign(msg_id, at, body.decode())
    return {
        "Content-Type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": signature,
    }


def _statuses(store) -> dict[str, str]:
    return {s.email: s.status for s in store.list_subscribers()}


def _stored_events(store) -> list:
    with store.engine.connect() as conn:
        return conn.execute(select(events).order_by(events.c.id)).all()


@pytest.fixture
def three(campaign_dir):
    add_subscribers(campaign_dir, people(3))
    return campaign_dir


# -- SendGrid ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key_format", ["base64 DER", "PEM"])
def test_sendgrid_signed_bounce_marks_bounced_and_a_wrong_signature_is_401(three, key_format):
    private, der_b64, pem = _ec_keys()
    key = der_b64 if key_format == "base64 DER" else pem
    with live_web(three, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": key}) as web:
        body = json.dumps(
            [
                {
                    "email": ALICE,
                    "event": "bounce",
                    "type": "bounce",
                    "reason": "550 5.1.1 no such user",
                    "timestamp": int(time.time()),
                    "sg_event_id": "e1",
                }
            ]
        ).encode()
        url = f"{web.url}/webhooks/sendgrid"

        impostor, _, _ = _ec_keys()
        wrong = requests.post(url, data=body, headers=_sendgrid_headers(impostor, body), timeout=10)
        assert wrong.status_code == 401
        tampered = requests.post(
            url, data=body.replace(b"bounce", b"bounce "), timeout=10, headers=_sendgrid_headers(private, body)
        )
        assert tampered.status_code == 401
        unsigned = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert unsigned.status_code == 401
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []

        ok = requests.post(url, data=body, headers=_sendgrid_headers(private, body), timeout=10)
        assert ok.status_code == 200 and ok.json()["suppressed"] == 1
        assert _statuses(web.store)[ALICE] == BOUNCED
        [stored] = _stored_events(web.store)
        assert (stored.provider, stored.kind, stored.email) == ("sendgrid", "bounce", ALICE)
        assert json.loads(stored.payload)["sg_event_id"] == "e1"


def test_sendgrid_event_kinds(three):
    private, der_b64, _ = _ec_keys()
    with live_web(three, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": der_b64}) as web:
        batch = [
            {"email": ALICE, "event": "spamreport", "timestamp": 1},
            {"email": BOB, "event": "group_unsubscribe", "timestamp": 1, "asm_group_id": 7},
            {"email": CAROL, "event": "bounce", "type": "blocked", "reason": "try later", "timestamp": 1},
            {"email": CAROL, "event": "delivered", "timestamp": 1},
            {"email": "stranger@example.org", "event": "bounce", "type": "bounce", "timestamp": 1},
        ]
        body = json.dumps(batch).encode()
        response = requests.post(
            f"{web.url}/webhooks/sendgrid", data=body, headers=_sendgrid_headers(private, body), timeout=10
        )
        assert response.status_code == 200 and response.json() == {"ok": True, "events": 5, "suppressed": 2}
        assert _statuses(web.store) == {ALICE: COMPLAINED, BOB: UNSUBSCRIBED, CAROL: ACTIVE}
        kinds = [(e.kind, e.subscriber_id is not None) for e in _stored_events(web.store)]
        assert kinds == [
            ("complaint", True),
            ("unsubscribe", True),
            ("soft_bounce", True),
            ("delivered", True),
            ("bounce", False),
        ]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"event": "bounce"}',
        b"[1, 2]",
        b'[{"email": 5, "event": "bounce"}]',
        b'[{"email": "a@example.org"}]',
        '["\xff"]'.encode("latin-1"),
    ],
)
def test_sendgrid_malformed_but_signed_body_is_400(three, body):
    private, der_b64, _ = _ec_keys()
    with live_web(three, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": der_b64}) as web:
        response = requests.post(
            f"{web.url}/webhooks/sendgrid", data=body, headers=_sendgrid_headers(private, body), timeout=10
        )
        assert response.status_code == 400
        assert _stored_events(web.store) == [] and set(_statuses(web.store).values()) == {ACTIVE}


def test_sendgrid_refuses_stale_future_and_replayed_signed_requests(three):
    private, der_b64, _ = _ec_keys()
    with live_web(three, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": der_b64}) as web:
        url = f"{web.url}/webhooks/sendgrid"
        body = json.dumps([{"email": ALICE, "event": "bounce", "type": "bounce", "timestamp": 1}]).encode()
        now = int(time.time())
        for when in (now - 30 * 24 * 3600, now - 6 * 60, now + 6 * 60, 10**15):  # a month old, 6 min, future
            signed = _sendgrid_headers(private, body, timestamp=str(when))
            assert requests.post(url, data=body, headers=signed, timeout=10).status_code == 401, when
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []

        headers = _sendgrid_headers(private, body)
        assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
        replay = requests.post(url, data=body, headers=headers, timeout=10)
        assert replay.status_code == 401  # the same signed request again: refused, applied once
        resigned = requests.post(url, data=body, headers=_sendgrid_headers(private, body), timeout=10)
        assert resigned.status_code in (200, 401)  # a fresh signature over the same second is the same request
        assert len(_stored_events(web.store)) == 1 + (resigned.status_code == 200)


# -- Mailgun ------------------------------------------------------------------------------------------------
def test_mailgun_hmac_replay_and_stale_timestamps(three):
    key = "key-" + secrets.token_hex(16)
    with live_web(three, env={"MAILGUN_WEBHOOK_SIGNING_KEY": key}) as web:
        url = f"{web.url}/webhooks/mailgun"
        failed = {"event": "failed", "severity": "permanent", "recipient": ALICE, "reason": "bounce"}

        assert requests.post(url, data=_mailgun_body("wrong-key", failed), timeout=10).status_code == 401
        stale = _mailgun_body(key, failed, timestamp=int(time.time()) - 20 * 60)
        assert requests.post(url, data=stale, timeout=10).status_code == 401
        future = _mailgun_body(key, failed, timestamp=int(time.time()) + 20 * 60)
        assert requests.post(url, data=future, timeout=10).status_code == 401
        no_block = json.dumps({"event-data": failed}).encode()
        assert requests.post(url, data=no_block, timeout=10).status_code == 401
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []

        body = _mailgun_body(key, failed)
        assert requests.post(url, data=body, timeout=10).status_code == 200
        assert _statuses(web.store)[ALICE] == BOUNCED
        replay = requests.post(url, data=body, timeout=10)
        assert replay.status_code == 401 and len(_stored_events(web.store)) == 1

        for data, expected in (
            ({"event": "complained", "recipient": BOB}, COMPLAINED),
            ({"event": "unsubscribed", "recipient": CAROL}, UNSUBSCRIBED),
        ):
            assert requests.post(url, data=_mailgun_body(key, data), timeout=10).status_code == 200
        assert _statuses(web.store) == {ALICE: BOUNCED, BOB: COMPLAINED, CAROL: UNSUBSCRIBED}

        temporary = {"event": "failed", "severity": "temporary", "recipient": ALICE}
        assert requests.post(url, data=_mailgun_body(key, temporary), timeout=10).status_code == 200
        malformed = _mailgun_body(key, "not an object")  # type: ignore[arg-type]
        assert requests.post(url, data=malformed, timeout=10).status_code == 400
        # Unsigned garbage is refused as unauthenticated: nothing reads an unsigned body.
        assert requests.post(url, data=b"\x00garbage", timeout=10).status_code == 401
        assert [e.kind for e in _stored_events(web.store)] == ["bounce", "complaint", "unsubscribe", "soft_bounce"]


def test_an_event_our_database_cannot_apply_is_503_and_the_providers_retry_is_applied(three):
    """The replay guard must not eat an event we failed to apply: the token is forgotten, the retry counts."""
    key = "key-" + secrets.token_hex(16)
    with live_web(three, env={"MAILGUN_WEBHOOK_SIGNING_KEY": key}) as web:
        url = f"{web.url}/webhooks/mailgun"
        body = _mailgun_body(key, {"event": "failed", "severity": "permanent", "recipient": ALICE})
        with web.store.begin() as conn:  # a real failure: the events table is gone for a moment
            conn.execute(text("ALTER TABLE events RENAME TO events_away"))
        try:
            assert requests.post(url, data=body, timeout=10).status_code == 503
        finally:
            with web.store.begin() as conn:
                conn.execute(text("ALTER TABLE events_away RENAME TO events"))
        assert requests.post(url, data=body, timeout=10).status_code == 200  # the provider's retry
        assert _statuses(web.store)[ALICE] == BOUNCED
        assert requests.post(url, data=body, timeout=10).status_code == 401  # and now it is a replay


# -- Postmark -----------------------------------------------------------------------------------------------
def test_postmark_basic_auth_and_record_types(three):
    env = {"POSTMARK_WEBHOOK_USER": "hooks", "POSTMARK_WEBHOOK_PASSWORD": "s3cret-pass"}
    with live_web(three, env=env) as web:
        url = f"{web.url}/webhooks/postmark"
        bounce = {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": ALICE,
            "Inactive": True,
            "Description": "The server was unable to deliver your message",
        }
        for auth in (None, ("hooks", "wrong"), ("nobody", "s3cret-pass")):
            response = requests.post(url, json=bounce, auth=auth, timeout=10)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []

        good = ("hooks", "s3cret-pass")
        assert requests.post(url, json=bounce, auth=good, timeout=10).status_code == 200
        soft = {"RecordType": "Bounce", "Type": "SoftBounce", "Email": BOB, "Inactive": False}
        assert requests.post(url, json=soft, auth=good, timeout=10).status_code == 200
        change = {
            "RecordType": "SubscriptionChange",
            "Recipient": CAROL,
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
            "ChangedAt": "2027-09-02T10:00:00Z",
        }
        assert requests.post(url, json=change, auth=good, timeout=10).status_code == 200
        assert _statuses(web.store) == {ALICE: BOUNCED, BOB: ACTIVE, CAROL: UNSUBSCRIBED}
        complaint = {"RecordType": "SpamComplaint", "Email": BOB}
        assert requests.post(url, json=complaint, auth=good, timeout=10).status_code == 200
        assert _statuses(web.store)[BOB] == COMPLAINED

        for malformed in (
            [bounce],
            {"Type": "HardBounce"},
            {"RecordType": "SubscriptionChange", "Recipient": CAROL, "SuppressSending": "yes"},
        ):
            assert requests.post(url, json=malformed, auth=good, timeout=10).status_code == 400
        assert len(_stored_events(web.store)) == 4
        # a Bounce without Email (anymail #447) carries nothing to apply: stored, and 200 (Postmark would retry)
        no_email = {"RecordType": "Bounce", "Type": "HardBounce"}
        assert requests.post(url, json=no_email, auth=good, timeout=10).status_code == 200
        assert len(_stored_events(web.store)) == 5


# -- Resend (Svix) ------------------------------------------------------------------------------------------
def test_resend_svix_signatures(three):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with live_web(three, env={"RESEND_WEBHOOK_SECRET": secret}) as web:
        url = f"{web.url}/webhooks/resend"
        body = json.dumps(
            {
                "type": "email.bounced",
                "created_at": "2027-09-02T09:00:01Z",
                "data": {
                    "email_id": "e-1",
                    "to": [ALICE],
                    "bounce": {"type": "Permanent", "subType": "General", "message": "hard bounce"},
                },
            }
        ).encode()
        other_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        assert requests.post(url, data=body, headers=_svix_headers(other_secret, body), timeout=10).status_code == 401
        old = datetime.now(UTC) - timedelta(minutes=10)
        assert requests.post(url, data=body, headers=_svix_headers(secret, body, at=old), timeout=10).status_code == 401
        assert (
            requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code == 401
        )
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []

        headers = _svix_headers(secret, body, msg_id="msg_once")
        assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
        assert _statuses(web.store)[ALICE] == BOUNCED
        # Svix re-delivers the same message id (newly signed): acknowledged, not applied twice.
        redelivery = requests.post(url, data=body, headers=_svix_headers(secret, body, msg_id="msg_once"), timeout=10)
        assert redelivery.status_code == 200 and redelivery.json()["duplicate"] is True
        assert len(_stored_events(web.store)) == 1

        complained = json.dumps({"type": "email.complained", "data": {"to": [BOB]}}).encode()
        assert (
            requests.post(url, data=complained, headers=_svix_headers(secret, complained), timeout=10).status_code
            == 200
        )
        contact = json.dumps({"type": "contact.updated", "data": {"email": CAROL, "unsubscribed": True}}).encode()
        assert requests.post(url, data=contact, headers=_svix_headers(secret, contact), timeout=10).status_code == 200
        assert _statuses(web.store) == {ALICE: BOUNCED, BOB: COMPLAINED, CAROL: UNSUBSCRIBED}

        for malformed in (b"[]", b'{"type": "email.bounced"}', b'{"type": "email.bounced", "data": {"to": [7]}}'):
            response = requests.post(url, data=malformed, headers=_svix_headers(secret, malformed), timeout=10)
            assert response.status_code == 400
        assert len(_stored_events(web.store)) == 3


# -- configuration ------------------------------------------------------------------------------------------
def test_a_webhook_without_its_secret_refuses_everything(three):
    private, _, _ = _ec_keys()
    with live_web(three) as web:
        body = json.dumps([{"email": ALICE, "event": "bounce", "type": "bounce"}]).encode()
        for provider in ("sendgrid", "mailgun", "postmark", "resend"):
            response = requests.post(
                f"{web.url}/webhooks/{provider}",
                data=body,
                headers=_sendgrid_headers(private, body),
                auth=("a", "b"),
                timeout=10,
            )
            assert response.status_code == 401, provider
        assert requests.post(f"{web.url}/webhooks/ses", data=body, timeout=10).status_code == 404
        assert requests.get(f"{web.url}/webhooks/sendgrid", timeout=10).status_code == 405
        assert _statuses(web.store)[ALICE] == ACTIVE and _stored_events(web.store) == []


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"SENDGRID_WEBHOOK_PUBLIC_KEY": "not a key"}, "SENDGRID_WEBHOOK_PUBLIC_KEY"),
        (
            {"SENDGRID_WEBHOOK_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
            "SENDGRID_WEBHOOK_PUBLIC_KEY",
        ),
        ({"RESEND_WEBHOOK_SECRET": "whsec_!!!"}, "RESEND_WEBHOOK_SECRET"),
        ({"POSTMARK_WEBHOOK_USER": "only-the-user"}, "POSTMARK_WEBHOOK_PASSWORD"),
    ],
)
def test_a_malformed_secret_stops_the_app_at_start_up(campaign_dir, env, variable):
    campaign_dir.env.update(env)
    store = campaign_dir.store()
    try:
        with pytest.raises(ConfigurationError) as info:
            create_app(campaign_dir.settings, store)
    finally:
        store.close()
    assert variable in str(info.value)
    assert "not a key" not in str(info.value)  # the value itself is never echoed


def test_an_rsa_key_is_not_accepted_for_sendgrid(campaign_dir):
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = rsa_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    campaign_dir.env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = base64.b64encode(der).decode()
    store = campaign_dir.store()
    try:
        with pytest.raises(ConfigurationError, match="P-256"):
            create_app(campaign_dir.settings, store)
    finally:
        store.close()


# -- the protocol -------------------------------------------------------------------------------------------
def test_every_provider_implements_the_protocol_and_the_route_names_none():
    import inspect

    from campaign.web import webhooks
    from campaign.web.webhooks.protocol import WebhookProvider

    assert set(webhooks.PROVIDERS) == {"postmark", "sendgrid", "mailgun", "resend"}
    for name, cls in webhooks.PROVIDERS.items():
        assert issubclass(cls, WebhookProvider) and not inspect.isabstract(cls) and cls.name == name
        assert 0 < cls.max_body <= 1024 * 1024
    route = inspect.getsource(webhooks.receive) + inspect.getsource(webhooks._once)
    assert not [name for name in webhooks.PROVIDERS if name in route.lower()]


def test_providers_are_pure_objects_without_flask_or_a_store():
    """A provider module is used with a plain WebhookRequest: headers (lower-case names), bytes, a time."""
    from campaign.errors import Unauthorized
    from campaign.web.webhooks.mailgun import MailgunWebhook
    from campaign.web.webhooks.postmark import PostmarkWebhook
    from campaign.web.webhooks.protocol import WebhookRequest

    now = datetime.now(UTC)
    postmark = PostmarkWebhook("hooks", "pw")
    good = {"authorization": "Basic " + base64.b64encode(b"hooks:pw").decode()}
    body = json.dumps({"RecordType": "SpamComplaint", "Email": ALICE}).encode()
    verified = postmark.authenticate(WebhookRequest(good, body, now))
    assert verified.once is None and [e.kind for e in postmark.parse(body)] == ["complaint"]
    for header in ({}, {"authorization": "Basic aG9va3M="}, {"authorization": "Digest x"}):
        with pytest.raises(Unauthorized):
            postmark.authenticate(WebhookRequest(header, body, now))
    assert PostmarkWebhook.refusal_headers()["WWW-Authenticate"].startswith("Basic realm=")

    key = "k" * 32
    mailgun = MailgunWebhook(key)
    signed = _mailgun_body(key, {"event": "complained", "recipient": BOB}, token="t" * 50)
    verified = mailgun.authenticate(WebhookRequest({}, signed, now))
    assert verified.once == "t" * 50 and not verified.redelivery
    assert [(e.kind, e.email) for e in mailgun.parse(signed)] == [("complaint", BOB)]
    # The signature block is found without decoding the rest: a "signature" nested deeper is not it.
    nested = json.dumps({"event-data": {"signature": json.loads(signed)["signature"]}}).encode()
    with pytest.raises(Unauthorized):
        mailgun.authenticate(WebhookRequest({}, nested, now))
