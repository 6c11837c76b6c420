"""Hostile requests to every route: never a 500, never a traceback, never a change from an unsigned body.

The routes come from the app's own url_map (the subscriber app with all four webhooks configured; the organisers'
`campaign studio` app in tests/test_studio_hostile.py), so a new route is fuzzed without anybody remembering to add it — and a test fails when
a rule has no case. Requests go through the real WSGI apps in-process (Flask's test client, no mocks): each
case asserts a 4xx (or the 2xx/3xx that is right for it) and that nothing was logged as an unhandled error.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import Rule

from campaign.delivery.tokens import Tokens
from campaign.ledger.states import BOUNCED, COMPLAINED
from campaign.ledger.store import Store
from campaign.web import create_app
from tests.conftest import TEST_SECRET, CampaignDir, base_env, copy_campaign, people
from tests.test_web_webhooks import _ec_keys, _mailgun_body, _sendgrid_headers, _svix_headers
from tests.web_live import add_subscribers

MAILGUN_KEY = "key-" + "ab" * 16
SVIX_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
POSTMARK_AUTH = ("hooks", "s3cret-pass")
SG_PRIVATE, SG_PUBLIC, _ = _ec_keys()
TOKENS = Tokens(TEST_SECRET)
PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend")


@dataclass
class Apps:
    web: Flask
    store: Store
    seen_rules: set[tuple[str, str]] = field(default_factory=set)


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Iterator[Apps]:
    root = copy_campaign(tmp_path_factory.mktemp("hostile") / "campaign")
    campaign = CampaignDir(root, base_env(root))
    campaign.env.update(
        {
            "SENDGRID_WEBHOOK_PUBLIC_KEY": SG_PUBLIC,
            "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
            "RESEND_WEBHOOK_SECRET": SVIX_SECRET,
            "POSTMARK_WEBHOOK_USER": POSTMARK_AUTH[0],
            "POSTMARK_WEBHOOK_PASSWORD": POSTMARK_AUTH[1],
        }
    )
    add_subscribers(campaign, people(2))
    store = campaign.store()
    web = create_app(campaign.settings, store, signups_per_client=(10_000, 600))
    try:
        yield Apps(web, store)
    finally:
        web.extensions["campaign"].mailer.close()
        store.close()


# -- what to send -------------------------------------------------------------------------------------------
HOSTILE_SEGMENTS = {
    "long": "A" * 5000,
    "accented": "%C3%A9t%C3%A9",
    "invalid-utf8": "%FF%FE%FD",
    "traversal": "..%2F..%2Fetc%2Fpasswd",
    "nul": "abc%00def",
    "line-separator": "%E2%80%A8%0D%0A",
    "markup": "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
}
VALID_SEGMENTS = {
    "token": {
        "unsubscribe-token": TOKENS.unsubscribe(1),
        "confirm-token": TOKENS.confirm(2),
        "preferences-token": TOKENS.preferences(1, date.today()),
        "export-token": TOKENS.export(1),
    },
    "day": {"day": "2027-09-01", "impossible-day": "2027-09-31", "day-number": "10", "far-day": "99999-01-01"},
    "provider": {name: name for name in (*PROVIDERS, "ses")},
    "kind": {"unsubscribe-page": "unsubscribe", "subscribe-page": "subscribe"},
}

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BODIES: dict[str, tuple[bytes, str | None]] = {
    "empty": (b"", None),
    "not-json": (b'{"event": "bounce",', JSON),
    "deep-array": (b"[" * 100_000 + b"]" * 100_000, JSON),
    "deep-object": (b'{"a":' * 30_000 + b"1" + b"}" * 30_000, JSON),
    "oversized": (b"x" * (2 * 1024 * 1024), "application/octet-stream"),
    "oversized-form": (b"email=" + b"a" * (1200 * 1024), FORM),
    "invalid-utf8": (b'\xff\xfe{"email": "\xc3"}', "application/json; charset=utf-8"),
    "non-ascii": ('{"email": "josé@bücher.de", "event": "bounce", "name": "Zoë \u2028"}'.encode(), JSON),
    "huge-number": (b"[" + b"9" * 100_000 + b"]", JSON),
    "bad-escapes": (b"email=%ZZ&csrf_token=%&List-Unsubscribe=One-Click%", FORM),
    "utf16-form": ("email=a@example.org&List-Unsubscribe=One-Click".encode("utf-16"), f"{FORM}; charset=utf-16"),
    "many-parts": ("&".join(f"f{i}=v" for i in range(3000)).encode(), FORM),
    "control-chars": ("List-Unsubscribe=One-Click&email=a\x00b@example.org\u2028&name=x\r\ny".encode(), FORM),
    "broken-multipart": (
        b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',
        "multipart/form-data; boundary=xyz",
    ),
    "multipart-no-boundary": (b"abc", "multipart/form-data"),
    "xml-entities": (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;&a;</x>", "text/xml"),
    "bogus-charset": (b'{"a": 1}', "application/json; charset=klingon"),
    "one-click-text-plain": (b"List-Unsubscribe=One-Click", "text/plain"),
}
BAD_METHODS = ("PUT", "DELETE", "PATCH", "PROPFIND")
_ARGS = re.compile(r"<(?:\w+:)?(\w+)>")


def _rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def _paths(rule: str, *, hostile: bool) -> Iterator[tuple[str, str]]:
    """(id, path) for a rule: its arguments filled with valid values and, when `hostile`, hostile ones."""
    args = sorted(_ARGS.findall(rule))
    if not args:
        yield "plain", rule
        return
    values: dict[str, str] = {}
    for arg in args:
        values.update(VALID_SEGMENTS.get(arg, {arg: "x"}))
    if hostile:
        values.update(HOSTILE_SEGMENTS)
    for label, value in values.items():
        path = rule
        for arg in args:
            path = path.replace(f"<{arg}>", value)
        yield label, path


@dataclass(frozen=True)
class Case:
    app: str  # "web"
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _cases() -> Iterator[object]:
    """Every rule × (its methods with hostile path values and bodies, and methods it does not allow)."""
    for app_name, rules in (("web", _WEB_RULES),):
        for rule, methods in rules.items():
            first_path = next(_paths(rule, hostile=False))[1]
            for method in sorted(methods):
                if method == "GET":
                    for label, path in _paths(rule, hostile=True):
                        yield pytest.param(Case(app_name, "GET", path), id=f"{app_name}-GET-{rule}-{label}")
                    query = "?country=%00&web=%FF&day=%E2%80%A8&x=" + "y" * 3000
                    yield pytest.param(Case(app_name, "GET", first_path + query), id=f"{app_name}-GET-{rule}-query")
                    continue
                targets = dict(_paths(rule, hostile=False)) if "<provider>" in rule else {"": first_path}
                for body_id, (body, content_type) in BODIES.items():
                    for label, target in targets.items():
                        yield pytest.param(
                            Case(app_name, method, target, body, content_type),
                            id=f"{app_name}-{method}-{rule}{'-' + label if label else ''}-{body_id}",
                        )
            for method in BAD_METHODS:
                yield pytest.param(Case(app_name, method, first_path), id=f"{app_name}-{method}-{rule}")


# The expected rules, written out so the test list is fixed at collection time; test_every_rule_is_fuzzed
# compares them with the apps' url_map, so a new route cannot go unfuzzed.
_WEB_RULES = {
    "/": {"GET"},
    "/healthz": {"GET"},
    "/metrics": {"GET"},
    "/subscribe": {"GET", "POST"},
    "/confirm/<token>": {"GET", "POST"},
    "/unsubscribe/<token>": {"GET", "POST"},
    "/unsubscribe/<token>/pause": {"POST"},
    "/preferences/<token>": {"GET", "POST"},
    "/preferences/<token>/pause": {"POST"},
    "/preferences/<token>/leave": {"POST"},
    "/preferences/<token>/export": {"POST"},
    "/preferences/<token>/delete": {"POST"},
    "/preferences/<token>/delete/confirm": {"POST"},
    "/export/<token>": {"GET"},
    "/archive/": {"GET"},
    "/archive/<day>": {"GET"},
    "/r/<day>/<link>": {"GET"},
    "/o/<day>/<variant>.gif": {"GET"},
    "/metrics/engagement": {"GET"},
    "/webhooks/<provider>": {"POST"},
}


def _methods(rule: Rule) -> set[str]:
    return set(rule.methods or ()) - {"HEAD", "OPTIONS"}


def test_every_rule_is_fuzzed(apps):
    for app, expected in ((apps.web, _WEB_RULES),):
        merged: dict[str, set[str]] = {}
        for rule in _rules(app):
            merged.setdefault(rule.rule, set()).update(_methods(rule))
        assert merged == expected, "a route was added or changed: list it in _WEB_RULES"


def _send(apps: Apps, case: Case, caplog):
    app = apps.web
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="campaign.web"):
        response = app.test_client().open(
            case.path, method=case.method, data=case.body, content_type=case.content_type, headers=list(case.headers)
        )
    text = response.get_data(as_text=True)
    unhandled = [r.getMessage() for r in caplog.records if "unhandled error" in r.getMessage()]
    assert response.status_code < 500 and not unhandled, (response.status_code, unhandled, text[:300])
    assert "Traceback" not in text and "werkzeug" not in text.lower()
    return response


@pytest.mark.parametrize("case", list(_cases()))
def test_no_request_produces_a_500(apps, case, caplog):
    statuses = {s.email: s.status for s in apps.store.list_subscribers()}
    response = _send(apps, case, caplog)
    if case.method in BAD_METHODS:
        assert response.status_code == 405
    elif "/webhooks/" in case.path:
        assert response.status_code in (401, 404, 413), response.status_code  # unsigned: nothing is read
    # No hostile request changes a subscriber (valid tokens with junk bodies included).
    if case.path.startswith(("/webhooks/", "/confirm/", "/subscribe", "/preferences/")):  # (no CSRF token here)
        assert {s.email: s.status for s in apps.store.list_subscribers() if s.email in statuses} == statuses


HOSTILE_HEADERS = {
    "garbage-session-cookie": ("GET", "/subscribe", (("Cookie", "campaign_form=" + "A" * 3000 + ".x.y"),)),
    "non-latin1-cookie": ("GET", "/subscribe", (("Cookie", "campaign_form=é\u00ff; other=%FF"),)),
    "evil-host": ("GET", "/archive/", (("Host", "evil.example:99999"),)),
    "forwarded-garbage": ("GET", "/", (("X-Forwarded-For", "::::, 999.1.1.1, " + "x" * 2000),)),
    "basic-auth-garbage": ("POST", "/webhooks/postmark", (("Authorization", "Basic %%%not-base64"),)),
    "basic-auth-no-colon": (
        "POST",
        "/webhooks/postmark",
        (("Authorization", "Basic " + base64.b64encode(b"\xff\xfe").decode()),),
    ),
    "bearer-auth": ("POST", "/webhooks/postmark", (("Authorization", "Bearer " + "x" * 5000),)),
    "sendgrid-bad-signature-encoding": (
        "POST",
        "/webhooks/sendgrid",
        (("X-Twilio-Email-Event-Webhook-Signature", "é" * 50), ("X-Twilio-Email-Event-Webhook-Timestamp", "²³")),
    ),
    "svix-unicode-digits": (
        "POST",
        "/webhooks/resend",
        (("svix-id", "msg_1"), ("svix-timestamp", "١٧٠٠٠٠٠٠٠٠"), ("svix-signature", "v1,abc v1, v2,x")),
    ),
    "content-length-lies": ("POST", "/webhooks/sendgrid", (("Content-Length", "99999999999"),)),
}


@pytest.mark.parametrize("method, path, headers", list(HOSTILE_HEADERS.values()), ids=list(HOSTILE_HEADERS))
def test_hostile_headers_are_refused_cleanly(apps, method, path, headers, caplog):
    response = _send(apps, Case("web", method, path, b"[]", JSON, headers), caplog)
    if path.startswith("/webhooks/"):
        assert response.status_code in (401, 413)


# -- signed, then hostile: authenticated bodies that are still unreadable, and replays ---------------------
def _signed(provider: str, body: bytes, *, once: str | None = None) -> tuple[bytes, dict]:
    """A correctly signed request for `provider` carrying `body` (Mailgun signs inside the body)."""
    if provider == "sendgrid":
        return body, _sendgrid_headers(SG_PRIVATE, body)
    if provider == "resend":
        return body, _svix_headers(SVIX_SECRET, body, msg_id=once)
    if provider == "postmark":
        auth = base64.b64encode(":".join(POSTMARK_AUTH).encode()).decode()
        return body, {"Authorization": f"Basic {auth}", "Content-Type": JSON}
    # Mailgun: the hostile part goes into event-data, next to a valid signature block.
    signed = _mailgun_body(MAILGUN_KEY, {"event": "failed"}, token=once)
    envelope = signed.replace(b'{"event": "failed"}', body)
    return envelope, {"Content-Type": JSON}


SIGNED_BODIES = {
    "deep": b"[" * 5000 + b"]" * 5000,
    "huge-number": b"[" + b"9" * 10_000 + b"]",
    "wrong-shape": b'{"RecordType": ["Bounce"], "event-data": 5, "data": "x", "type": 7}',
    "address-with-nul": b'[{"email": "a\\u0000b@example.org", "event": "bounce", "RecordType": "Bounce", "Type": "HardBounce", "Email": "a\\u0000b@example.org"}]',
    "address-too-long": json.dumps([{"email": "a" * 400 + "@example.org", "event": "bounce"}]).encode(),
    "nan": b"[NaN, Infinity]",
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body_id", list(SIGNED_BODIES))
def test_signed_but_unreadable_bodies_are_400(apps, provider, body_id, caplog):
    body, headers = _signed(provider, SIGNED_BODIES[body_id])
    response = _send(
        apps,
        Case("web", "POST", f"/webhooks/{provider}", body, headers.pop("Content-Type", None), tuple(headers.items())),
        caplog,
    )
    # Mailgun's signature sits inside the body: a body too deep to read is not even authenticated.
    expected = {400, 401} if provider == "mailgun" and body_id == "deep" else {400}
    assert response.status_code in expected, (provider, body_id, response.get_data(as_text=True)[:200])
    assert not {s.status for s in apps.store.list_subscribers()} & {BOUNCED, COMPLAINED}


GOOD_EVENT = {
    "postmark": {"RecordType": "Delivery", "Recipient": "reader00002@example.org"},
    "sendgrid": [{"email": "reader00002@example.org", "event": "delivered", "timestamp": 1}],
    "mailgun": {"event": "delivered", "recipient": "reader00002@example.org"},
    "resend": {"type": "email.delivered", "data": {"to": ["reader00002@example.org"]}},
}


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "resend"])
def test_a_replayed_signed_request_is_not_applied_twice(apps, provider, caplog):
    once = f"once-{secrets.token_hex(8)}"
    body, headers = _signed(provider, json.dumps(GOOD_EVENT[provider]).encode(), once=once)
    content_type = headers.pop("Content-Type", None)
    case = Case("web", "POST", f"/webhooks/{provider}", body, content_type, tuple(headers.items()))
    first = _send(apps, case, caplog)
    assert first.status_code == 200 and first.get_json()["events"] == 1
    again = _send(apps, case, caplog)
    if provider == "resend":  # Svix re-delivers on purpose: acknowledged, applied once
        assert again.status_code == 200 and again.get_json() == {"ok": True, "events": 0, "duplicate": True}
    else:
        assert again.status_code == 401


def test_the_unsigned_mailgun_body_is_not_decoded_past_its_signature_block(apps, caplog):
    """A 1 MB unsigned body (past Mailgun's cap) is refused at once; one just under it, with a deep or
    unterminated structure, is refused as unauthenticated in well under a second."""
    big = _send(apps, Case("web", "POST", "/webhooks/mailgun", b"[" * (300 * 1024), JSON), caplog)
    assert big.status_code == 413
    for body in (
        b'{"a": "' + b"\\" * (250 * 1024),
        b'{"signature": ' + b"[" * (200 * 1024),
        b'{"x":[' + b"0," * 120_000 + b"0]}",
    ):
        started = time.monotonic()
        response = _send(apps, Case("web", "POST", "/webhooks/mailgun", body, JSON), caplog)
        assert response.status_code == 401 and time.monotonic() - started < 1.5


def test_a_timestamp_outside_the_window_is_refused_by_every_signed_provider(apps, caplog):
    old = int(datetime.now(UTC).timestamp()) - 6 * 60
    body = json.dumps(GOOD_EVENT["sendgrid"]).encode()
    sendgrid = _sendgrid_headers(SG_PRIVATE, body, timestamp=str(old))
    sendgrid.pop("Content-Type")
    mailgun = _mailgun_body(MAILGUN_KEY, GOOD_EVENT["mailgun"], timestamp=old)
    resend_body = json.dumps(GOOD_EVENT["resend"]).encode()
    resend = _svix_headers(SVIX_SECRET, resend_body, at=datetime.fromtimestamp(old, UTC))
    resend.pop("Content-Type")
    for provider, payload, headers in (
        ("sendgrid", body, sendgrid),
        ("mailgun", mailgun, {}),
        ("resend", resend_body, resend),
    ):
        response = _send(
            apps, Case("web", "POST", f"/webhooks/{provider}", payload, JSON, tuple(headers.items())), caplog
        )
        assert response.status_code == 401, provider


def test_the_corpus_is_large_enough():
    n = len(list(_cases())) + len(HOSTILE_HEADERS) + len(SIGNED_BODIES) * len(PROVIDERS) + 3
    assert n >= 50, n
    assert Path(__file__).name.startswith("test_hostile_web")


# -- the sign-up form with a valid CSRF token: hostile field values are refused or cleaned, never stored raw --
HOSTILE_FIELDS = {
    "email-crlf": {"email": "a@example.org\r\nBcc: b@example.org"},
    "email-nul": {"email": "a\x00@example.org"},
    "email-u2028": {"email": "a\u2028b@example.org"},
    "email-idn": {"email": "ana@bücher.de"},
    "email-accented-local": {"email": "josé@example.org"},
    "email-two-addresses": {"email": "a@example.org, b@example.org"},
    "email-huge": {"email": "a" * 5000 + "@example.org"},
    "name-crlf": {"email": "n1@example.org", "name": "Sam\r\nBcc: x@example.org"},
    "name-bidi": {"email": "n2@example.org", "name": "\u202egnp.exe\u200b"},
    "name-huge": {"email": "n3@example.org", "name": "N" * 100_000},
    "country-unknown": {"email": "c1@example.org", "country": "XX"},
    "country-non-ascii": {"email": "c2@example.org", "country": "ÜS"},
    "timezone-path": {"email": "t1@example.org", "timezone": "../../../../etc/passwd"},
    "timezone-posix": {"email": "t2@example.org", "timezone": "EST5EDT,M3.2.0,M11.1.0"},
    "timezone-nul": {"email": "t3@example.org", "timezone": "Europe/London\x00"},
    "timezone-huge": {"email": "t4@example.org", "timezone": "A/" + "b" * 10_000},
    "repeated-fields": {"email": ["r1@example.org", "r2@example.org"], "timezone": ["UTC", "../x"]},
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u200b-\u200f\u202a-\u202e]")


@pytest.mark.parametrize("fields", list(HOSTILE_FIELDS.values()), ids=list(HOSTILE_FIELDS))
def test_hostile_sign_up_fields_are_refused_or_cleaned(apps, fields, caplog):
    client = apps.web.test_client()
    page = client.get("/subscribe").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="campaign.web"):
        response = client.post("/subscribe", data={"csrf_token": csrf, **fields})
    assert response.status_code in (200, 400), response.status_code
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]
    for subscriber in apps.store.list_subscribers():
        for value in (subscriber.email, subscriber.name or "", subscriber.timezone or "", subscriber.country or ""):
            assert not _UNSAFE.search(value), (subscriber.email, value)
        assert len(subscriber.name or "") <= 200
        assert subscriber.timezone in (None, "UTC") or "/" in subscriber.timezone
