"""Every request our SendGrid and Resend providers send validates against the request schema the provider
publishes in its OpenAPI document — not only against our fake servers.

The documents are copies kept in tests/openapi/ (verbatim parts, with the source repository, path and commit
in each file's header and in tests/openapi/README.md), so nothing is fetched at test time. The real providers
send a realistic day — accented names, an IDN domain, names holding `,` and `;`, a nameless reader, one
List-Unsubscribe per reader — plus a [Test] copy and a late joiner's welcome to the local fake servers of
tests/provider_servers.py; every body those servers received is validated with `jsonschema` (OpenAPI 3.1
schemas are JSON Schema 2020-12). The `email` format is checked strictly (RFC 5321, ASCII only: an IDN
domain must travel in IDNA form). Constraints the documents state only in prose are checked beside the
schema, each naming where it is written. Broken bodies prove the validation can fail.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from campaign.delivery.welcome import send_welcomes
from campaign.ledger.schema import subscribers
from tests.provider_servers import FakeResend, FakeSendGrid, Received, make_rig, seed_subscribers

OPENAPI = Path(__file__).parent / "openapi"
SENDGRID_DOC = "sendgrid-mail-send.yaml"
RESEND_DOC = "resend-emails.yaml"

# Readers of one realistic day: an accented name, an IDN domain (and an accented name on it), names with a
# comma and a semicolon (SendGrid drops those unless quoted), quotes and a backslash, and nobody's name.
READERS = [
    ("zoe@example.org", "Zoë Ünïcode-Çedilla"),
    ("anna@bücher.example", "Anna Müller"),
    ("jane@example.org", "Doe, Jane"),
    ("rick@example.org", "Roe; Rick"),
    ("obrien@example.org", 'Zoë "Z" <O\'Brien> & co \\ bye'),
    ("plain@example.org", "Plain Name"),
    ("nobody@example.org", None),
]
TESTER = "tester@exämple.org"
LATE = ("late@bücher.example", "Léa Late, Jr.")

# RFC 5321 Mailbox (what JSON Schema's `email` format names): dot-atom or quoted-string local part, an ASCII
# domain of LDH labels. Non-ASCII would be `idn-email`, which no kept schema allows.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_MAILBOX = re.compile(
    rf'(?:{_ATOM}(?:\.{_ATOM})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")'
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
)
FORMATS = FormatChecker()


@FORMATS.checks("email")
def _rfc5321_mailbox(instance: object) -> bool:
    return not isinstance(instance, str) or bool(_MAILBOX.fullmatch(instance))


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class Spec:
    """One kept OpenAPI document: request-body validators for its operations, found the way the document
    says (an operation's requestBody, through its $ref if it has one, then `application/json`'s schema)."""

    def __init__(self, filename: str):
        self.uri = f"urn:campaign-tests:openapi:{filename}"
        self.document = yaml.safe_load((OPENAPI / filename).read_text(encoding="utf-8"))
        self.registry = Registry().with_resource(self.uri, DRAFT202012.create_resource(self.document))

    def _at(self, pointer: str):
        node = self.document
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validator(self, schema_pointer: str) -> Draft202012Validator:
        schema = {"$ref": f"{self.uri}#{schema_pointer}"}
        return Draft202012Validator(schema, registry=self.registry, format_checker=FORMATS)

    def operation(self, path: str, method: str = "post") -> dict:
        return self.document["paths"][path][method]

    def request_body(self, path: str, method: str = "post") -> Draft202012Validator:
        pointer = _pointer("paths", path, method, "requestBody")
        body = self._at(pointer)
        if "$ref" in body:
            pointer = body["$ref"].removeprefix("#")
            body = self._at(pointer)
        assert "application/json" in body["content"], f"{path}: no JSON request body in the document"
        return self.validator(pointer + _pointer("content", "application/json", "schema"))

    def header(self, path: str, name: str, method: str = "post") -> Draft202012Validator:
        parameters = self.operation(path, method)["parameters"]
        (index,) = [i for i, p in enumerate(parameters) if p["in"] == "header" and p["name"] == name]
        return self.validator(_pointer("paths", path, method, "parameters", str(index), "schema"))


@pytest.fixture(scope="module")
def sendgrid_spec() -> Spec:
    return Spec(SENDGRID_DOC)


@pytest.fixture(scope="module")
def resend_spec() -> Spec:
    return Spec(RESEND_DOC)


def _short(message: str) -> str:
    return message if len(message) <= 300 else f"{message[:150]} … {message[-150:]}"


def problems(validator: Draft202012Validator, instance: object) -> list[str]:
    """Every schema violation as `path: message` (empty: valid)."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {_short(e.message)}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def realistic_traffic(campaign_dir, server, provider: str, env: dict) -> list[Received]:
    """A day's send to READERS, a [Test] copy and a late joiner's welcome, through the real provider; the
    requests the fake server received (each answered with success)."""
    rig = make_rig(campaign_dir, server, provider, env)
    emails = [email for email, _ in READERS]
    seed_subscribers(rig.store, len(READERS), emails=emails, names=[name for _, name in READERS])
    report = rig.sender().send_day(rig.day)
    assert report.sent == len(READERS), report
    assert rig.sender().send_test(rig.day, TESTER).ok
    # A reader who joined after day 1 went out is owed one welcome email.
    joined = rig.project.schedule.send_at(rig.day) + timedelta(hours=3)
    (late,) = seed_subscribers(rig.store, 1, emails=[LATE[0]], names=[LATE[1]])
    with rig.store.engine.begin() as conn:
        conn.execute(subscribers.update().where(subscribers.c.id == late).values(joined_at=joined))
    assert send_welcomes(rig.project, rig.store, rig.provider, clock=lambda: joined + timedelta(hours=1)) == 1
    assert server.requests and all(200 <= r.status < 300 for r in server.requests), [
        (r.path, r.status) for r in server.requests
    ]
    return server.requests


# -- SendGrid ----------------------------------------------------------------------------------------------
SENDGRID_PATH = "/v3/mail/send"
# SendGrid's `headers` description (both levels): "You may not override the following headers: …".
SENDGRID_RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


def sendgrid_prose_problems(mail: dict) -> list[str]:
    """What the kept document states in descriptions rather than keywords."""
    found = []
    for where, headers in [("headers", mail.get("headers", {}))] + [
        (f"personalizations/{i}/headers", p.get("headers", {})) for i, p in enumerate(mail["personalizations"])
    ]:
        found += [
            f"{where}/{k}: a header SendGrid does not let us set"
            for k in headers
            if k.lower() in SENDGRID_RESERVED_HEADERS
        ]
        found += [f"{where}/{k}: not a string" for k, v in headers.items() if not isinstance(v, str)]
    for i, p in enumerate(mail["personalizations"]):
        # substitutions: "The total collective size of your substitutions may not exceed 10,000 bytes per
        # personalization object"; custom_args: "This field may not exceed 10,000 bytes."
        for key in ("substitutions", "custom_args"):
            size = len(json.dumps(p.get(key, {}), ensure_ascii=False).encode())
            if size > 10_000:
                found.append(f"personalizations/{i}/{key}: {size} bytes, over 10,000")
    return found


def sendgrid_env(server) -> dict:
    return {"CAMPAIGN_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "test-key", "SENDGRID_API_URL": server.url}


def test_every_sendgrid_request_validates_against_sendgrids_published_schema(campaign_dir, sendgrid_spec):
    validator = sendgrid_spec.request_body(SENDGRID_PATH)
    with FakeSendGrid() as server:
        requests = realistic_traffic(campaign_dir, server, "sendgrid", sendgrid_env(server))
    assert [r.path for r in requests] == [SENDGRID_PATH] * 3  # the day, the [Test] copy, the welcome
    bodies = [json.loads(r.body) for r in requests]
    for request, mail in zip(requests, bodies, strict=True):
        assert problems(validator, mail) == [], f"request {request.number} does not match SendGrid's schema"
        assert sendgrid_prose_problems(mail) == [], f"request {request.number}"
    day, test_copy, welcome = bodies
    broken = json.loads(requests[0].body)
    del broken["from"], broken["personalizations"][0]["to"][0]["email"]
    assert problems(validator, broken) == [
        "(body): 'from' is a required property",
        "personalizations/0/to/0: 'email' is a required property",
    ]  # the same validator rejects the real body once broken
    assert len(day["personalizations"]) == len(READERS)  # what was validated is the realistic day
    sent_to = {to["email"]: to.get("name") for p in day["personalizations"] for to in p["to"]}
    assert sent_to["anna@xn--bcher-kva.example"] == "Anna Müller"  # IDNA domain, plain UTF-8 name
    assert sent_to["jane@example.org"] == '"Doe, Jane"' and "name" not in day["personalizations"][-1]["to"][0]
    assert len({p["headers"]["List-Unsubscribe"] for p in day["personalizations"]}) == len(READERS)
    assert test_copy["subject"].startswith("[Test] ") and test_copy["personalizations"][0]["to"][0]["email"] == (
        "tester@xn--exmple-cua.org"
    )
    assert welcome["personalizations"][0]["to"] == [{"email": "late@xn--bcher-kva.example", "name": '"Léa Late, Jr."'}]


def test_sendgrids_own_examples_validate_so_the_validator_reads_the_document_right(sendgrid_spec):
    validator = sendgrid_spec.request_body(SENDGRID_PATH)
    examples = sendgrid_spec.document["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    assert len(examples["examples"]) == 2
    for name, example in examples["examples"].items():
        assert problems(validator, example["value"]) == [], name


@pytest.mark.parametrize(
    ("why", "break_it", "expected"),
    [
        ("no from", lambda m: m.pop("from"), "(body): 'from' is a required property"),
        ("a recipient without an address", lambda m: m["personalizations"][0]["to"][0].pop("email"), "'email' is a"),
        (
            "an IDN domain not in IDNA form",
            lambda m: m["personalizations"][0]["to"][0].update(email="a@bücher.de"),
            "is not a 'email'",
        ),
        ("an empty part", lambda m: m["content"][0].update(value=""), "should be non-empty"),
        (
            "a substitution that is not a string",
            lambda m: m["personalizations"][0]["substitutions"].update(x=1),
            "is not of type 'string'",
        ),
        (
            "1001 personalizations",
            lambda m: m["personalizations"].extend(m["personalizations"][:1] * 1000),
            "is too long",
        ),
    ],
)
def test_a_broken_sendgrid_body_is_rejected(sendgrid_spec, why, break_it, expected):
    mail = {
        "personalizations": [
            {
                "to": [{"email": "anna@xn--bcher-kva.example", "name": "Anna Müller"}],
                "substitutions": {"__NAME_TEXT__": "Anna"},
                "headers": {"List-Unsubscribe": "<https://news.example.org/unsubscribe/t>"},
            }
        ],
        "from": {"email": "hello@example.org", "name": "Mind Matters"},
        "subject": "Day 1",
        "content": [{"type": "text/plain", "value": "Hello"}, {"type": "text/html", "value": "<p>Hello</p>"}],
    }
    validator = sendgrid_spec.request_body(SENDGRID_PATH)
    assert problems(validator, mail) == []
    break_it(mail)
    found = problems(validator, mail)
    assert found and any(expected in f for f in found), (why, found)


# -- Resend ------------------------------------------------------------------------------------------------
RESEND_BATCH = "/emails/batch"
# Tag's `name` and `value` descriptions: "It can only contain ASCII letters (a–z, A–Z), numbers (0–9),
# underscores (_), or dashes (-). It can contain no more than 256 characters."
RESEND_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")


def resend_prose_problems(emails: list) -> list[str]:
    found = []
    if len(emails) > 100:  # the operation's summary: "Trigger up to 100 batch emails at once."
        found.append(f"{len(emails)} emails in one batch, over 100")
    for i, email in enumerate(emails):
        for j, tag in enumerate(email.get("tags", [])):
            found += [
                f"{i}/tags/{j}/{k}: {tag[k]!r} is not ASCII letters, digits, _ or - (≤ 256)"
                for k in ("name", "value")
                if not RESEND_TAG.fullmatch(str(tag.get(k, "")))
            ]
        found += [
            f"{i}/headers/{k}: not a string" for k, v in email.get("headers", {}).items() if not isinstance(v, str)
        ]
    return found


def resend_env(server) -> dict:
    return {"CAMPAIGN_PROVIDER": "resend", "RESEND_API_KEY": "re_test", "RESEND_API_URL": server.url}


def test_every_resend_request_validates_against_resends_published_schema(campaign_dir, resend_spec):
    batch = resend_spec.request_body(RESEND_BATCH)
    single = resend_spec.request_body("/emails")
    key = resend_spec.header(RESEND_BATCH, "Idempotency-Key")
    with FakeResend(key="re_test") as server:
        requests = realistic_traffic(campaign_dir, server, "resend", resend_env(server))
    assert [r.path for r in requests] == [RESEND_BATCH] * 3  # the day, the [Test] copy, the welcome
    bodies = [json.loads(r.body) for r in requests]
    for request, emails in zip(requests, bodies, strict=True):
        assert problems(batch, emails) == [], f"request {request.number} does not match Resend's schema"
        for email in emails:  # each item is a SendEmailRequest, the body of POST /emails too
            assert problems(single, email) == []
        assert resend_prose_problems(emails) == [], f"request {request.number}"
        assert problems(key, request.headers["Idempotency-Key"]) == []
    day, test_copy, welcome = bodies
    broken = json.loads(requests[0].body)
    del broken[2]["subject"]
    broken[0]["to"] = []
    assert problems(batch, broken) == [
        "0/to: [] is not valid under any of the given schemas",
        "2: 'subject' is a required property",
    ]  # the same validator rejects the real body once broken
    assert len(day) == len(READERS)  # what was validated is the realistic day
    to = {email["to"][0] for email in day}
    assert "Anna Müller <anna@xn--bcher-kva.example>" in to and '"Doe, Jane" <jane@example.org>' in to
    assert "nobody@example.org" in to
    assert len({email["headers"]["List-Unsubscribe"] for email in day}) == len(READERS)
    assert test_copy[0]["subject"].startswith("[Test] ") and test_copy[0]["to"] == ["tester@xn--exmple-cua.org"]
    assert welcome[0]["to"] == ['"Léa Late, Jr." <late@xn--bcher-kva.example>']


@pytest.mark.parametrize(
    ("why", "break_it", "expected"),
    [
        ("no subject", lambda e: e[0].pop("subject"), "'subject' is a required property"),
        ("no recipient", lambda e: e[0].update(to=[]), "is not valid under any of the given schemas"),
        (
            "51 recipients",
            lambda e: e[0].update(to=["a@example.org"] * 51),
            "is not valid under any of the given schemas",
        ),
        ("headers as a list", lambda e: e[0].update(headers=[["List-Unsubscribe", "<x>"]]), "is not of type 'object'"),
        ("a batch item that is not an email", lambda e: e.append(e.pop()["to"]), "is not of type 'object'"),
    ],
)
def test_a_broken_resend_body_is_rejected(resend_spec, why, break_it, expected):
    emails = [
        {
            "from": "Mind Matters <hello@example.org>",
            "to": ["Anna Müller <anna@xn--bcher-kva.example>"],
            "subject": "Day 1",
            "html": "<p>Hello</p>",
            "text": "Hello",
            "headers": {"List-Unsubscribe": "<https://news.example.org/unsubscribe/t>"},
            "tags": [{"name": "issue", "value": "2027-09-01"}],
        }
    ]
    validator = resend_spec.request_body(RESEND_BATCH)
    assert problems(validator, emails) == []
    break_it(emails)
    found = problems(validator, emails)
    assert found and any(expected in f for f in found), (why, found)
    assert "is not of type 'array'" in problems(validator, {"emails": []})[0]  # a batch is a bare array


def test_the_prose_checks_can_fail_too():
    assert resend_prose_problems([{"tags": [{"name": "issue", "value": "2027-09-01 test"}]}]) == [
        "0/tags/0/value: '2027-09-01 test' is not ASCII letters, digits, _ or - (≤ 256)"
    ]
    assert resend_prose_problems([{}] * 101) == ["101 emails in one batch, over 100"]
    mail = {"personalizations": [{"to": [], "headers": {"Reply-To": "x@example.org"}}], "headers": {"X-N": 1}}
    assert sendgrid_prose_problems(mail) == [
        "headers/X-N: not a string",
        "personalizations/0/headers/Reply-To: a header SendGrid does not let us set",
    ]
