"""Real local HTTP servers that follow each provider's documented contract (../shared/reference/providers.md).

Each server checks the auth header, the caps and the required fields, answers with the documented success
and error bodies, records exactly what it received, and "delivers" what it accepted (expanding SendGrid
substitutions and Mailgun recipient variables, so a test sees what each reader would get).

Fault injection: `faults` maps a request number (1-based) to a `Fault` — a status with or without a
Retry-After hint, a stall longer than the client's timeout (before or *after* the batch was accepted), or a
dropped connection. `every(n, fault)` and `once(n, fault)` build the usual plans.

`lean=True` keeps only who received what (no bodies), for the 50,000-recipient crash test; `count_only=True`
(the benchmark) skips parsing altogether and answers from a count of the items.

Run one in its own process: `python -m tests.provider_servers postmark --port 8025 [--lean|--count-only]`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr

from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from campaign.config import load_settings
from campaign.delivery.sender import RetryPolicy, Sender
from campaign.ledger.schema import subscribers
from campaign.ledger.store import Store
from campaign.providers import make_provider
from campaign.series.project import load_project

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer this status instead of processing
    headers: dict = field(default_factory=dict)
    body: dict | None = None
    stall: float = 0.0  # seconds to wait before answering (longer than the client's timeout)
    after: bool = False  # process (deliver) the request first, then stall / fail
    drop: bool = False  # close the connection without answering


def rate_limited(retry_after: float | None = None, **headers) -> Fault:
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return Fault(429, headers=headers)


def every(n: int, fault: Fault):
    return lambda number: fault if number % n == 0 else None


def once(n: int, fault: Fault):
    return lambda number: fault if number == n else None


def combine(*plans):
    def plan(number):
        for p in plans:
            if (fault := p(number)) is not None:
                return fault
        return None

    return plan


@dataclass
class Received:
    number: int
    method: str
    path: str
    headers: dict
    body: bytes
    json: object = None
    form: dict | None = None  # multipart fields, each a list of values
    status: int = 0  # what the server answered


@dataclass
class Delivered:
    to: str  # the bare address
    request: int
    subject: str = ""
    html: str = ""
    text: str = ""
    headers: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


class FakeProviderServer:
    name = "?"

    def __init__(
        self,
        *,
        key: str = "test-key",
        faults=None,
        lean: bool = False,
        count_only: bool = False,
        port: int = 0,
        delay: float = 0.0,
    ):
        self.key = key
        self.delay = delay  # seconds each accepted request takes to answer (after processing)
        self.faults = faults or (lambda number: None)
        self.lean = lean or count_only
        self.count_only = count_only
        self.port = port
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.delivered: list[Delivered] = []
        self.accepted = 0  # messages accepted (count_only mode keeps only this)
        self._number = 0

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> FakeProviderServer:
        self.server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    # -- what tests look at ------------------------------------------------------------------------
    def counts(self) -> Counter:
        """How many times each address was delivered to."""
        with self.lock:
            return Counter(d.to for d in self.delivered)

    def requests_to(self, path_part: str) -> list[Received]:
        return [r for r in self.requests if path_part in r.path]

    # -- plumbing -----------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self._number += 1
            number = self._number
        body = request.get_data()
        received = Received(number, request.method, request.path, dict(request.headers), b"" if self.lean else body)
        if not self.count_only:
            with self.lock:
                self.requests.append(received)
        fault = self.faults(number)
        if fault is not None and not fault.after:
            response = self._fault(fault, environ)
        else:
            response = self.handle(request, body, received)
            if self.delay:
                time.sleep(self.delay)
            if fault is not None:
                response = self._fault(fault, environ)
        if response is None:  # connection dropped
            return []
        received.status = response.status_code
        return response(environ, start_response)

    def _fault(self, fault: Fault, environ) -> Response | None:
        if fault.stall:
            time.sleep(fault.stall)
        if fault.drop:
            sock = environ.get("werkzeug.socket")
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        status = fault.status or 500
        body = fault.body if fault.body is not None else self.error_body(status, "injected fault")
        return Response(json.dumps(body), status, headers=fault.headers, content_type="application/json")

    def deliver(self, delivered: Delivered) -> None:
        with self.lock:
            self.accepted += 1
            if self.lean:
                delivered = Delivered(delivered.to, delivered.request)
            self.delivered.append(delivered)

    def json_response(self, body, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")

    def error_body(self, status: int, message: str) -> dict:
        return {"message": message}

    def handle(self, request: Request, body: bytes, received: Received) -> Response:
        raise NotImplementedError


def _bare(address: str) -> str:
    return parseaddr(address)[1].lower()


def _valid_address(address: str) -> bool:
    """Syntax, and ASCII only: none of the four APIs documents internationalised addresses, so an IDN domain
    must arrive in IDNA (punycode) form and a non-ASCII local part must never arrive at all."""
    bare = _bare(address) or ""
    return bare.isascii() and bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", bare))


class FakePostmark(FakeProviderServer):
    """POST /email/batch: ≤ 500 messages, X-Postmark-Server-Token, 200 with per-item ErrorCode."""

    name = "postmark"
    STREAMS = {"broadcast", "outbound"}

    def __init__(self, *, inactive: set[str] | None = None, **kw):
        super().__init__(**kw)
        self.inactive = {a.lower() for a in (inactive or set())}

    def error_body(self, status, message):
        return {"ErrorCode": 0 if status >= 500 else 300, "Message": message}

    def handle(self, request, body, received):
        if request.path != "/email/batch" or request.method != "POST":
            return self.json_response({"ErrorCode": 0, "Message": "not found"}, 404)
        if request.headers.get("X-Postmark-Server-Token") != self.key:
            return self.json_response(
                {
                    "ErrorCode": 10,
                    "Message": "The Server Token you provided in the "
                    "X-Postmark-Server-Token request header was invalid.",
                },
                401,
            )
        if self.count_only:
            n = body.count(b'"MessageStream":')
            self.accepted += n
            return Response(
                b"[" + b",".join([b'{"ErrorCode":0,"Message":"OK","MessageID":"m"}'] * n) + b"]",
                200,
                content_type="application/json",
            )
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return self.json_response({"ErrorCode": 0, "Message": "Content-Type must be application/json"}, 415)
        if self.lean:
            return self._lean(body, received)
        try:
            messages = json.loads(body)
        except ValueError:
            return self.json_response({"ErrorCode": 402, "Message": "Received invalid JSON input."}, 422)
        received.json = None if self.lean else messages
        if not isinstance(messages, list) or not 1 <= len(messages) <= 500:
            return self.json_response({"ErrorCode": 300, "Message": "A batch holds 1 to 500 messages."}, 422)
        results = []
        for message in messages:
            to = str(message.get("To", ""))
            if not message.get("From") or not to or not (message.get("HtmlBody") or message.get("TextBody")):
                results.append(
                    {"ErrorCode": 300, "Message": "Invalid email request: From, To and a body are required."}
                )
            elif message.get("MessageStream", "outbound") not in self.STREAMS:
                results.append(
                    {"ErrorCode": 1235, "Message": f"The message stream {message['MessageStream']} was not found."}
                )
            elif not _valid_address(to):
                results.append({"ErrorCode": 300, "Message": f"Invalid 'To' address: '{to}'."})
            elif _bare(to) in self.inactive:
                results.append(
                    {
                        "ErrorCode": 406,
                        "Message": "You tried to send to recipient(s) that have been marked as inactive.",
                    }
                )
            else:
                message_id = str(uuid.uuid4())
                headers = {h["Name"]: h["Value"] for h in message.get("Headers", [])}
                self.deliver(
                    Delivered(
                        _bare(to),
                        received.number,
                        message.get("Subject", ""),
                        message.get("HtmlBody", ""),
                        message.get("TextBody", ""),
                        headers,
                        {
                            k: message.get(k)
                            for k in (
                                "Tag",
                                "Metadata",
                                "MessageStream",
                                "ReplyTo",
                                "From",
                                "TrackOpens",
                                "TrackLinks",
                                "To",
                            )
                        },
                    )
                )
                results.append(
                    {
                        "ErrorCode": 0,
                        "Message": "OK",
                        "MessageID": message_id,
                        "To": to,
                        "SubmittedAt": "2027-09-01T13:00:00Z",
                    }
                )
        return self.json_response(results)

    _TO = re.compile(rb'"To":"((?:[^"\\]|\\.)*)"')

    def _lean(self, body: bytes, received) -> Response:
        """The 50,000-recipient crash test: who got a message, without decoding 1 GB of JSON in the test
        process (the other tests check every field)."""
        if not body.startswith(b"[") or not body.endswith(b"]"):
            return self.json_response({"ErrorCode": 402, "Message": "Received invalid JSON input."}, 422)
        recipients = [json.loads(b'"' + to + b'"') for to in self._TO.findall(body)]
        if not 1 <= len(recipients) <= 500 or body.count(b'"HtmlBody":') != len(recipients):
            return self.json_response({"ErrorCode": 300, "Message": "A batch holds 1 to 500 messages."}, 422)
        results = []
        for to in recipients:
            self.deliver(Delivered(_bare(to), received.number))
            results.append({"ErrorCode": 0, "Message": "OK", "MessageID": str(uuid.uuid4()), "To": to})
        return self.json_response(results)


class FakeSendGrid(FakeProviderServer):
    """POST /v3/mail/send: Bearer key, ≤ 1000 personalizations, unique addresses, 202 + X-Message-Id."""

    name = "sendgrid"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.dropped: list[str] = []  # SendGrid silently drops mail whose unquoted name holds `,` or `;`

    def error_body(self, status, message):
        return {"errors": [{"message": message, "field": None, "help": None}]}

    def _error(self, status, message, field_=None):
        return self.json_response({"errors": [{"message": message, "field": field_, "help": None}]}, status)

    def handle(self, request, body, received):
        if request.path != "/v3/mail/send" or request.method != "POST":
            return self._error(404, "not found")
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return self._error(401, "The provided authorization grant is invalid, expired, or revoked")
        if self.count_only:
            self.accepted += body.count(b'"custom_args":')
            return Response(b"", 202, headers={"X-Message-Id": "bench"})
        try:
            mail = json.loads(body)
        except ValueError:
            return self._error(400, "Bad Request", None)
        received.json = None if self.lean else mail
        people = mail.get("personalizations") or []
        if not 1 <= len(people) <= 1000:
            return self._error(
                400, "The personalizations field must have between 1 and 1000 items.", "personalizations"
            )
        for key in ("from", "subject", "content"):
            if not mail.get(key):
                return self._error(400, f"The {key} field is required.", key)
        seen = set()
        for i, p in enumerate(people):
            for to in p.get("to", []):
                address = to.get("email", "").lower()
                if not _valid_address(address):
                    return self._error(400, "Does not contain a valid address.", f"personalizations.{i}.to.0.email")
                if address in seen:
                    return self._error(
                        400,
                        "Each email address in the personalization block should be unique "
                        f"between to, cc, and bcc. We found the first duplicate instance of [{address}] "
                        f"in the personalizations.{i}.to field.",
                        f"personalizations.{i}",
                    )
                seen.add(address)
        content = {c["type"]: c["value"] for c in mail["content"]}
        for p in people:
            names = [to.get("name") or "" for to in p.get("to", [])]
            if any(("," in n or ";" in n) and not (n.startswith('"') and n.endswith('"')) for n in names):
                self.dropped.extend(to["email"].lower() for to in p["to"])  # accepted (202), never delivered
                continue
            subs = p.get("substitutions", {})
            html, text = content.get("text/html", ""), content.get("text/plain", "")
            if not self.lean:
                for key, value in subs.items():
                    html, text = html.replace(key, value), text.replace(key, value)
            headers = {**mail.get("headers", {}), **p.get("headers", {})}
            for to in p["to"]:
                self.deliver(
                    Delivered(
                        to["email"].lower(),
                        received.number,
                        mail["subject"],
                        html,
                        text,
                        headers,
                        {
                            "custom_args": p.get("custom_args"),
                            "name": to.get("name"),
                            "from": mail["from"],
                            "categories": mail.get("categories"),
                            "tracking_settings": mail.get("tracking_settings"),
                            "reply_to": mail.get("reply_to"),
                        },
                    )
                )
        return Response(b"", 202, headers={"X-Message-Id": uuid.uuid4().hex[:22]})


class FakeMailgun(FakeProviderServer):
    """POST /v3/<domain>/messages: basic auth api:key, multipart form, ≤ 1000 recipients, recipient-variables
    merged into the subject and body only (what Mailgun documents); custom headers arrive as sent."""

    name = "mailgun"

    def __init__(self, *, domain: str = "mg.example.org", **kw):
        super().__init__(**kw)
        self.domain = domain

    def handle(self, request, body, received):
        match = re.fullmatch(r"/v3/([^/]+)/messages", request.path)
        if not match or request.method != "POST":
            return self.json_response({"message": "not found"}, 404)
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"api:{self.key}".encode()).decode()
        if auth != expected:
            return Response("Forbidden", 401)
        if match.group(1) != self.domain:
            return self.json_response({"message": f"Domain not found: {match.group(1)}"}, 404)
        if not request.content_type.startswith("multipart/form-data"):
            return self.json_response({"message": "expected multipart/form-data"}, 400)
        request.max_form_parts = 5000  # werkzeug's default (1000) is below Mailgun's batch size
        request.max_form_memory_size = 64 * 1024 * 1024
        form = {key: request.form.getlist(key) for key in request.form.keys()}
        received.form = None if self.lean else form
        to = form.get("to", [])
        for key in ("from", "subject"):
            if not form.get(key):
                return self.json_response({"message": f"'{key}' parameter is missing"}, 400)
        if not to:
            return self.json_response({"message": "'to' parameter is missing"}, 400)
        if len(to) > 1000:
            return self.json_response({"message": "Too many recipients (max 1000)"}, 400)
        try:
            variables = json.loads(form.get("recipient-variables", ["{}"])[0])
        except ValueError:
            return self.json_response({"message": "recipient-variables is not valid JSON"}, 400)
        options = sum(
            len(k) + len(v) for k, values in form.items() for v in values if k[:2] in ("o:", "h:", "v:", "t:")
        )
        if options > 16 * 1024:
            return self.json_response({"message": "o:, h:, v: and t: parameters exceed 16 KB"}, 400)
        message_id = f"<{uuid.uuid4().hex}@{self.domain}>"
        html, text = form.get("html", [""])[0], form.get("text", [""])[0]
        headers = {k[2:]: v[0] for k, v in form.items() if k.startswith("h:")}
        for address in to:
            bare = _bare(address)
            if not _valid_address(address):
                return self.json_response({"message": f"to parameter is not a valid address: {address}"}, 400)
            values = variables.get(bare, variables.get(address, {}))

            def merge(s, values=values):
                return re.sub(r"%recipient\.([A-Za-z0-9_]+)%", lambda m: str(values.get(m.group(1), "")), s)

            self.deliver(
                Delivered(
                    bare,
                    received.number,
                    merge(form["subject"][0]),
                    "" if self.lean else merge(html),
                    "" if self.lean else merge(text),
                    headers,  # as sent: Mailgun documents %recipient.…% in subject and body, not in headers
                    {
                        "to_field": address,
                        "variables": values,
                        "options": {k: v for k, v in form.items() if k[:2] in ("o:", "v:")},
                    },
                )
            )
        return self.json_response({"id": message_id, "message": "Queued. Thank you."})


class FakeResend(FakeProviderServer):
    """POST /emails/batch: Bearer key, ≤ 100 emails, Idempotency-Key (replayed, 409 on a different body),
    x-batch-validation strict | permissive."""

    name = "resend"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.keys: dict[str, tuple[str, int, bytes]] = {}  # key -> (body digest, status, response body)
        self.replayed = 0

    def error_body(self, status, message):
        return {
            "statusCode": status,
            "name": "application_error" if status >= 500 else "rate_limit_exceeded",
            "message": message,
        }

    def _error(self, status, name, message):
        return self.json_response({"statusCode": status, "name": name, "message": message}, status)

    def handle(self, request, body, received):
        if request.path != "/emails/batch" or request.method != "POST":
            return self._error(404, "not_found", "not found")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(401, "missing_api_key", "Missing API key in the authorization header")
        if auth != f"Bearer {self.key}":
            return self._error(403, "invalid_api_key", "API key is invalid")
        key = request.headers.get("Idempotency-Key")
        digest = hashlib.sha256(body).hexdigest()
        if key is not None:
            if len(key) > 256:
                return self._error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
            with self.lock:
                stored = self.keys.get(key)
                if stored is None:
                    self.keys[key] = (digest, None, b"")  # in progress
            if stored is not None:
                if stored[0] != digest:
                    return self._error(
                        409, "invalid_idempotent_request", "Same idempotency key used with a different request payload."
                    )
                if stored[1] is None:
                    return self._error(
                        409,
                        "concurrent_idempotent_requests",
                        "Same idempotency key used while the original request is still in progress.",
                    )
                with self.lock:
                    self.replayed += 1
                return Response(stored[2], stored[1], content_type="application/json")
        response = self._process(request, body, received)
        if key is not None:
            with self.lock:
                if response.status_code < 500:
                    self.keys[key] = (digest, response.status_code, response.get_data())
                else:
                    del self.keys[key]
        return response

    def _process(self, request, body, received):
        try:
            emails = json.loads(body)
        except ValueError:
            return self._error(422, "validation_error", "Invalid JSON")
        received.json = None if self.lean else emails
        if not isinstance(emails, list) or not 1 <= len(emails) <= 100:
            return self._error(422, "validation_error", "The batch must hold 1 to 100 emails.")
        permissive = request.headers.get("x-batch-validation", "strict") == "permissive"
        errors = []
        for index, email in enumerate(emails):
            for key in ("from", "to", "subject"):
                if not email.get(key):
                    errors.append({"index": index, "message": f"Missing `{key}` field."})
                    break
            else:
                to = email["to"] if isinstance(email["to"], list) else [email["to"]]
                if len(to) > 50 or not all(_valid_address(a) for a in to):
                    errors.append({"index": index, "message": "Invalid `to` field."})
        if errors and not permissive:
            return self._error(422, "validation_error", errors[0]["message"])
        bad = {e["index"] for e in errors}
        data = []
        for index, email in enumerate(emails):
            if index in bad:
                continue
            message_id = str(uuid.uuid4())
            for address in email["to"] if isinstance(email["to"], list) else [email["to"]]:
                self.deliver(
                    Delivered(
                        _bare(address),
                        received.number,
                        email.get("subject", ""),
                        email.get("html", ""),
                        email.get("text", ""),
                        email.get("headers", {}),
                        {
                            "tags": email.get("tags"),
                            "from": email.get("from"),
                            "reply_to": email.get("reply_to"),
                            "idempotency_key": request.headers.get("Idempotency-Key"),
                        },
                    )
                )
            data.append({"id": message_id})
        return self.json_response({"data": data, **({"errors": errors} if permissive else {})})


SERVERS = {"postmark": FakePostmark, "sendgrid": FakeSendGrid, "mailgun": FakeMailgun, "resend": FakeResend}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake provider server until killed.")
    parser.add_argument("provider", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--lean", action="store_true")
    parser.add_argument("--count-only", action="store_true")
    args = parser.parse_args()
    server = SERVERS[args.provider](key=args.key, lean=args.lean, count_only=args.count_only, port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()


# -- helpers shared by the provider tests ------------------------------------------------------------------
def seed_subscribers(
    store,
    n: int,
    *,
    start: int = 1,
    domain: str = "example.org",
    country: str | None = None,
    names: bool | list[str] = True,
    emails: list[str] | None = None,
) -> list[int]:
    """Insert `n` active subscribers who joined long before the series (one executemany, one transaction)."""
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    addresses = emails or [f"reader{i:06d}@{domain}" for i in range(start, start + n)]
    rows = [
        {
            "email": a,
            "name": names[i - start] if isinstance(names, list) else f"Reader {i}" if names else None,
            "country": country,
            "status": "active",
            "joined_at": joined,
            "source": "import",
        }
        for i, a in enumerate(addresses, start)
    ]
    with store.engine.begin() as conn:
        before = conn.execute(select(func.max(subscribers.c.id))).scalar() or 0
        conn.execute(subscribers.insert(), rows)
        return list(
            conn.execute(select(subscribers.c.id).where(subscribers.c.id > before).order_by(subscribers.c.id)).scalars()
        )


def ledger(store, day) -> Counter:
    """status -> count of the day's deliveries. Queued rows are left out: they are owed, as if there were
    no row (a batch released after bad credentials goes back to the queue)."""
    return Counter(row.status for row in store.deliveries_for(day) if row.status != "queued")


@dataclass
class Rig:
    """A campaign folder, its settings, project and store, a running fake provider, and a provider for it."""

    server: FakeProviderServer
    settings: object
    project: object
    store: object
    provider: object

    @property
    def day(self):
        return self.project.schedule.dates[0]

    def sender(self, **kw):
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("rate", 1_000_000.0)
        return Sender(self.project, self.store, self.provider, **kw)

    def ledger(self) -> Counter:
        return ledger(self.store, self.day)

    def rows(self) -> dict:
        """subscriber email -> its delivery row for the day."""
        return {row.email: row for row in self.store.deliveries_for(self.day)}


# Tests back off for milliseconds, not seconds; the bound (4 requests per batch) is the same logic.
FAST_RETRY = RetryPolicy(attempts=4, initial=0.01, maximum=0.05)


def make_rig(campaign_dir, server: FakeProviderServer, provider: str, env: dict) -> Rig:
    """Point `provider` at `server` (env: its credentials), build everything in-process."""
    campaign_dir.env.update(env)
    settings = load_settings(campaign_dir.root, campaign_dir.env)
    project = load_project(settings)
    store = Store.open(settings.database_url)
    return Rig(server, settings, project, store, make_provider(provider, settings, project.schedule.campaign))


LIVE_PUBLIC_URL = "https://news.mindmatters-campaign.org"
_LIVE_EDITS = (
    ("hello@example.org", "hello@mindmatters-campaign.org"),
    ("support@example.org", "support@mindmatters-campaign.org"),
    (
        "123 Example Street, Suite 100, Anytown, NY 00000, USA (placeholder address)",
        "48 Harbour Road, Portland, ME 04101, USA",
    ),
)


def go_live(campaign_dir):
    """The example campaign with its shipped placeholders replaced (sender domain, postal address, public URL),
    so `campaign send` through a real provider passes its go-live gate. Returns `campaign_dir`."""
    text = (campaign_dir.root / "schedule.yaml").read_text(encoding="utf-8")
    for old, new in _LIVE_EDITS:
        if old in text:
            campaign_dir.edit_schedule(old, new)
    campaign_dir.env["CAMPAIGN_PUBLIC_URL"] = LIVE_PUBLIC_URL
    return campaign_dir


def claim_as_dead_sender(sender: Sender, day, *, limit: int, batch_id: str) -> list:
    """What a sender killed mid-request leaves behind: the day enqueued and one batch claimed, in flight, by a
    worker id of this host whose process is gone. Returns the claimed rows."""
    import subprocess
    from datetime import timedelta

    from campaign.clock import utcnow

    process = subprocess.Popen(["true"])
    process.wait()
    sender.sources.enqueue(day)
    return sender.store.claim_batch(
        day,
        sender.project.default_variant,
        limit=limit,
        worker_id=f"{socket.gethostname()}:{process.pid}:dead",
        batch_id=batch_id,
        provider=sender.provider.name,
        lease_until=utcnow() + timedelta(hours=1),
    )


def expected_preferences(subscriber_id: int, day, public_url: str = "https://news.example.org") -> str:
    """The "Manage your emails" URL a send of `day` gives this subscriber (what each provider must carry)."""
    from campaign.delivery.tokens import Tokens
    from campaign.series.links import preferences_url
    from tests.conftest import TEST_SECRET

    return preferences_url(public_url, Tokens(TEST_SECRET).preferences(subscriber_id, day))
