"""The fake providers of tests/provider_servers.py, plus the read-only endpoints `campaign check` probes,
answering as the real APIs document them (401 on a bad key, the documented bodies otherwise):

  Postmark  GET /server, GET /message-streams/{id} (with SubscriptionManagementConfiguration)
  SendGrid  GET /v3/scopes
  Mailgun   GET /v3/domains/{domain}
  Resend    GET /domains (a send-only key gets 401 restricted_api_key)

`go_live(campaign_dir)` (from tests.provider_servers) turns the test campaign into one fit for real mail, so
the go-live gate of `send`/`run` lets a test through to the fake provider.
"""

from __future__ import annotations

import base64

from tests.provider_servers import LIVE_PUBLIC_URL, FakeMailgun, FakePostmark, FakeResend, FakeSendGrid
from tests.provider_servers import go_live as provider_go_live

GO_LIVE_DOMAIN = LIVE_PUBLIC_URL.removeprefix("https://news.")


def go_live(campaign_dir) -> dict:
    """tests.provider_servers.go_live (own domain, real postal address, public URL); returns the env it set."""
    provider_go_live(campaign_dir)
    return {"CAMPAIGN_PUBLIC_URL": LIVE_PUBLIC_URL}


class ProbedPostmark(FakePostmark):
    def __init__(self, *, unsubscribe_handling: str = "None", stream_type: str = "Broadcasts", **kw):
        super().__init__(**kw)
        self.unsubscribe_handling = unsubscribe_handling
        self.stream_type = stream_type

    def handle(self, request, body, received):
        if request.method == "GET" and (request.path == "/server" or request.path.startswith("/message-streams/")):
            if request.headers.get("X-Postmark-Server-Token") != self.key:
                return self.json_response(
                    {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}, 401
                )
            if request.path == "/server":
                return self.json_response(
                    {"ID": 1, "Name": "Awareness series", "Color": "blue", "DeliveryType": "Live"}
                )
            stream = request.path.rpartition("/")[2]
            if stream not in self.STREAMS:
                return self.json_response(
                    {"ErrorCode": 1226, "Message": f"The message stream '{stream}' was not found."}, 422
                )
            kind = self.stream_type if stream == "broadcast" else "Transactional"
            return self.json_response(
                {
                    "ID": stream,
                    "ServerID": 1,
                    "Name": stream.title(),
                    "Description": None,
                    "MessageStreamType": kind,
                    "CreatedAt": "2026-07-01T00:00:00-04:00",
                    "UpdatedAt": None,
                    "ArchivedAt": None,
                    "ExpectedPurgeDate": None,
                    "SubscriptionManagementConfiguration": {
                        "UnsubscribeHandlingType": self.unsubscribe_handling if stream == "broadcast" else "None"
                    },
                }
            )
        return super().handle(request, body, received)


class ProbedSendGrid(FakeSendGrid):
    def __init__(self, *, scopes=("mail.send", "user.profile.read"), **kw):
        super().__init__(**kw)
        self.scopes = list(scopes)

    def handle(self, request, body, received):
        if request.method == "GET" and request.path == "/v3/scopes":
            if request.headers.get("Authorization") != f"Bearer {self.key}":
                return self._error(401, "authorization required")
            return self.json_response({"scopes": self.scopes})
        return super().handle(request, body, received)


class ProbedMailgun(FakeMailgun):
    def __init__(self, *, state: str = "active", **kw):
        super().__init__(**kw)
        self.state = state

    def handle(self, request, body, received):
        if request.method == "GET" and request.path.startswith("/v3/domains/"):
            expected = "Basic " + base64.b64encode(f"api:{self.key}".encode()).decode()
            if request.headers.get("Authorization", "") != expected:
                return self.json_response({"message": "Invalid private key"}, 401)
            name = request.path.rpartition("/")[2]
            if name != self.domain:
                return self.json_response({"message": "Domain not found"}, 404)
            return self.json_response(
                {
                    "domain": {"name": name, "state": self.state, "type": "custom", "spam_action": "disabled"},
                    "receiving_dns_records": [],
                    "sending_dns_records": [],
                }
            )
        return super().handle(request, body, received)


class ProbedResend(FakeResend):
    def __init__(self, *, domains: dict[str, str] | None = None, send_only: bool = False, **kw):
        super().__init__(**kw)
        self.domains = domains if domains is not None else {GO_LIVE_DOMAIN: "verified"}
        self.send_only = send_only

    def handle(self, request, body, received):
        if request.method == "GET" and request.path == "/domains":
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.key}":
                return self._error(401 if not auth else 403, "invalid_api_key", "API key is invalid")
            if self.send_only:
                return self._error(401, "restricted_api_key", "This API key is restricted to only send emails")
            data = [
                {"id": f"d{i}", "name": n, "status": s, "created_at": "2026-07-01T00:00:00Z", "region": "us-east-1"}
                for i, (n, s) in enumerate(self.domains.items())
            ]
            return self.json_response({"object": "list", "data": data})
        return super().handle(request, body, received)
