"""The shared base of the HTTP providers: one pooled `requests.Session`, timeouts, and one place where
transport failures and HTTP statuses become our exceptions (style.md §2).

A provider module fills in two things: `build_request(batch)` (the payload) and `parse_results(response,
batch)` (one Result per recipient). Everything about retrying lives in the sender; this module only says
*what* happened:

- never reached the provider (connection refused, connect timeout), 500/503 → TransientProviderError (retry)
- 429 → RateLimited, with the wait the provider asked for (Retry-After, X-RateLimit-Reset, ratelimit-reset)
- 401/403 → AuthenticationFailed naming the provider and the variable to check (the send stops at once)
- the request went out but no answer came back (read timeout, connection dropped, 502/504 from a proxy)
  → OutcomeUnknown: the provider may have accepted it, so it is never resent blindly
- any other 4xx → ProviderError: the request itself was refused; the batch fails with the provider's reason

Payloads are built for speed: the JSON of one message (or of the shared content) is encoded once per issue
variant and cut at its per-recipient slots (`SplitTemplate`); filling it for a recipient is one string join.
"""

from __future__ import annotations

import email.utils
import html as html_lib
import json
import re
import time
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from campaign.config import Settings
from campaign.errors import (
    AuthenticationFailed,
    ConfigurationError,
    OutcomeUnknown,
    Problem,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from campaign.providers.base import LIST_UNSUBSCRIBE_POST, Batch, Provider, Recipient, Result
from campaign.series.render import DEFAULT_NAME, NAME_HTML, NAME_TEXT, UNSUBSCRIBE_URL

# The C string encoder behind json.dumps: a str → its JSON literal (with quotes), ASCII only.
_json_string = json.encoder.encode_basestring_ascii
USER_AGENT = "campaign/0.1 (+newsletter sender)"


def json_fragment(value: str) -> str:
    """`value` escaped for use *inside* a JSON string literal."""
    return _json_string(value)[1:-1]


def api_base_url(settings: Settings, variable: str, default: str) -> str:
    """The provider's base URL (scheme and host), overridable for tests and proxies. Plain http is only
    accepted for a loopback host: an API key must never travel unencrypted over a network."""
    raw = settings.get(variable)
    if raw is None:
        return default
    url = urlparse(raw)
    fix = f"set {variable} to the scheme and host only, e.g. https://api.example.com or http://127.0.0.1:8025"
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigurationError(
            Problem("environment", None, variable, f"{variable}={raw!r} is not an http(s) URL", fix)
        )
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                variable,
                f"{variable}={raw!r} would send the API key unencrypted",
                "use https:// (plain http is only allowed for 127.0.0.1/localhost)",
            )
        )
    return raw.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """How long a 429 asks us to wait, from whichever header the provider uses; None when it says nothing.

    `Retry-After`: seconds or an HTTP date (RFC 9110). `X-RateLimit-Reset`: epoch seconds (SendGrid).
    `ratelimit-reset`: seconds until the window resets (IETF draft, Resend); values that look like an epoch
    are read as one.
    """
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now)
    for name in ("X-RateLimit-Reset", "RateLimit-Reset"):
        value = headers.get(name)
        if not value:
            continue
        try:
            number = float(value.strip())
        except ValueError:
            continue
        return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)
    return None


class SplitTemplate:
    """Text with named slots, cut once; `fill` is a single join (no scanning of the long literal parts)."""

    def __init__(self, text: str, slots: Iterable[str]):
        self.parts: list[str] = []
        self.positions: list[tuple[int, str]] = []  # (index in parts, slot) of every slot occurrence
        pattern = re.compile("|".join(re.escape(s) for s in sorted(set(slots), key=len, reverse=True)))
        index = 0
        for match in pattern.finditer(text):
            self.parts.append(text[index : match.start()])
            self.positions.append((len(self.parts), match.group()))
            self.parts.append(match.group())
            index = match.end()
        self.parts.append(text[index:])

    def fill(self, values: Mapping[str, str]) -> str:
        parts = self.parts.copy()
        for i, slot in self.positions:
            parts[i] = values[slot]
        return "".join(parts)

    @property
    def slots(self) -> set[str]:
        return {slot for _, slot in self.positions}


def slot(name: str) -> str:
    """A marker no content can contain (NUL); JSON-encoded it reads \\u0000name\\u0000."""
    return f"\x00{name}\x00"


def json_slot(name: str) -> str:
    return json_fragment(slot(name))


def marked_parts(batch: Batch) -> tuple[str, str]:
    """The issue's HTML and text with the render placeholders turned into slots, per part: in HTML the URL and
    name are HTML-escaped, in text they are not (the same substitutions as `RenderedIssue.merge`)."""
    html = batch.issue.html.replace(UNSUBSCRIBE_URL, slot("unsubscribe_html")).replace(NAME_HTML, slot("name_html"))
    text = batch.issue.text.replace(UNSUBSCRIBE_URL, slot("unsubscribe")).replace(NAME_TEXT, slot("name"))
    return html, text


_SLOT_NAMES = (
    "unsubscribe_html",
    "name_html",
    "unsubscribe",
    "name",
    "list_unsubscribe",
    "to",
    "email",
    "display_name",
    "message_id",
    "subscriber_id",
)
(
    _UNSUBSCRIBE_HTML,
    _NAME_HTML,
    _UNSUBSCRIBE,
    _NAME,
    _LIST_UNSUBSCRIBE,
    _TO,
    _EMAIL,
    _DISPLAY_NAME,
    _MESSAGE_ID,
    _SUBSCRIBER_ID,
) = (json_slot(name) for name in _SLOT_NAMES)
_escape_html = html_lib.escape


def _shown(recipient: Recipient) -> str:
    return (recipient.name or "").strip() or DEFAULT_NAME


# slot -> its per-recipient value, escaped for a JSON string. Only the slots a template holds are computed:
# this runs once per recipient, so every microsecond shows at a million subscribers.
_VALUES = {
    _UNSUBSCRIBE_HTML: lambda b, r: json_fragment(_escape_html(r.unsubscribe_url)),
    _NAME_HTML: lambda b, r: json_fragment(_escape_html(_shown(r))),
    _UNSUBSCRIBE: lambda b, r: json_fragment(r.unsubscribe_url),
    _NAME: lambda b, r: json_fragment(_shown(r)),
    _LIST_UNSUBSCRIBE: lambda b, r: json_fragment(f"<{r.unsubscribe_url}>"),
    _TO: lambda b, r: json_fragment(r.address),
    _EMAIL: lambda b, r: json_fragment(r.email),
    _DISPLAY_NAME: lambda b, r: json_fragment(r.name or ""),
    _MESSAGE_ID: lambda b, r: json_fragment(b.message_id(r)),
    _SUBSCRIBER_ID: lambda b, r: str(r.subscriber_id),
}


def fill_each(template: SplitTemplate, batch: Batch, *, unnamed: SplitTemplate | None = None) -> list[bytes]:
    """The template filled once per recipient of the batch (`unnamed`, if given, for recipients without a
    name), as ASCII JSON. Only the slots the templates hold are computed."""
    slots = template.slots | (unnamed.slots if unnamed else set())
    getters = [(slot, _VALUES[slot]) for slot in slots]
    out = []
    for r in batch.recipients:
        values = {slot: get(batch, r) for slot, get in getters}
        out.append((template if unnamed is None or r.name else unnamed).fill(values).encode("ascii"))
    return out


def json_array(items: list[bytes]) -> bytes:
    """`[a,b,…]` from already-encoded items, with a single whole-body allocation (a Postmark batch is ~10 MB,
    and four of them are in flight: every extra copy is memory and page faults)."""
    if not items:
        return b"[]"
    items[0] = b"[" + items[0]
    items[-1] = items[-1] + b"]"
    return b",".join(items)


def json_template(shape: object) -> SplitTemplate:
    """Encode `shape` (which holds `slot(...)` markers) once and cut it at the markers."""
    text = json.dumps(shape, separators=(",", ":"))
    return SplitTemplate(text, [json_slot(name) for name in _SLOT_NAMES])


@dataclass
class HTTPRequest:
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: list | None = None  # multipart/form-data fields (Mailgun)


class HTTPProvider(Provider):
    """One provider's HTTP API. Subclasses set the class attributes and fill in the two abstract methods."""

    credential_variable = ""  # the environment variable holding the key (named when it is rejected)
    credential_purpose = ""  # what it is, for the "not set" message
    api_url_variable = ""  # the base-URL override (tests, proxies)
    default_url = ""
    ambiguous_statuses = frozenset({502, 504})
    timeout = (5.0, 60.0)  # connect, read (a 500-message batch can take a while to accept)
    template_cache_size = 64

    def __init__(self, base_url: str, *, concurrency: int | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        pool = max(concurrency or self.default_concurrency, 1) + 2
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)  # retries: the sender's job
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._templates: dict = {}

    @classmethod
    def from_settings(cls, settings: Settings, campaign=None) -> HTTPProvider:
        """Built from the environment: the key (a missing one is a ConfigurationError naming the variable,
        raised before anything is sent), the base URL override, and schedule.yaml's `concurrency`."""
        key = settings.require(cls.credential_variable, cls.credential_purpose)
        return cls(
            key,
            api_base_url(settings, cls.api_url_variable, cls.default_url),
            concurrency=getattr(campaign, "concurrency", None),
        )

    # -- what a provider fills in ------------------------------------------------------------------
    @abstractmethod
    def build_request(self, batch: Batch) -> HTTPRequest: ...

    @abstractmethod
    def parse_results(self, response: requests.Response, batch: Batch) -> list[Result]: ...

    def auth_failure_message(self, response: requests.Response) -> str:
        return (
            f"{self.name} rejected the credentials (HTTP {response.status_code}: {self.error_text(response)}) — "
            f"check {self.credential_variable}; nothing more will be sent until it is fixed"
        )

    def error_text(self, response: requests.Response) -> str:
        """The provider's own words, short and on one line (bodies never contain our key)."""
        try:
            body = response.json()
        except ValueError:
            return " ".join(response.text.split())[:300] or response.reason or ""
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):  # SendGrid
                body = {
                    "message": "; ".join(
                        str(e.get("message", e)) + (f" ({e['field']})" if e.get("field") else "") for e in errors
                    )
                }
            for key in ("Message", "message", "errors", "error"):
                if key in body:
                    return " ".join(str(body[key]).split())[:300]
        return " ".join(str(body).split())[:300]

    # -- the loop every HTTP provider shares -------------------------------------------------------
    def send_batch(self, batch: Batch) -> list[Result]:
        return self.parse_results(self.post(self.build_request(batch)), batch)

    def cached(self, key, build):
        """A per-variant template, built once (a race between two threads builds it twice; harmless)."""
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= self.template_cache_size:
                self._templates.clear()
            template = self._templates[key] = build()
        return template

    def post(self, request: HTTPRequest) -> requests.Response:
        url = self.base_url + request.path
        try:
            response = self.session.post(
                url, data=request.body, files=request.files, headers=request.headers, timeout=self.timeout
            )
        except requests.ConnectTimeout as err:
            raise TransientProviderError(f"{self.name}: timed out connecting to {url}", provider=self.name) from err
        except requests.ReadTimeout as err:
            raise OutcomeUnknown(
                f"{self.name}: no answer from {url} within {self.timeout[1]:.0f} s; the batch may have been accepted",
                provider=self.name,
            ) from err
        except requests.ConnectionError as err:
            reason = err.args[0] if err.args else None
            if isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError):
                raise TransientProviderError(
                    f"{self.name}: cannot reach {url} ({reason.reason})", provider=self.name
                ) from err
            if isinstance(err, requests.exceptions.SSLError):
                raise TransientProviderError(f"{self.name}: TLS failed with {url}: {err}", provider=self.name) from err
            raise OutcomeUnknown(
                f"{self.name}: connection to {url} lost during the request ({reason}); "
                "the batch may have been accepted",
                provider=self.name,
            ) from err
        except requests.RequestException as err:
            raise OutcomeUnknown(f"{self.name}: request to {url} failed: {err}", provider=self.name) from err
        self.check_status(response)
        return response

    def check_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        text = self.error_text(response)
        kw = {"provider": self.name, "status": status, "body": text}
        if status in (401, 403):
            raise AuthenticationFailed(self.auth_failure_message(response), **kw)
        if status == 429:
            wait = retry_after_seconds(response.headers)
            hint = f"; asked to wait {wait:.1f} s" if wait is not None else ""
            raise RateLimited(f"{self.name}: rate limited (HTTP 429{hint}): {text}", retry_after=wait, **kw)
        if status in self.ambiguous_statuses:
            raise OutcomeUnknown(
                f"{self.name}: HTTP {status} from {response.url}: {text}; the batch may have been accepted", **kw
            )
        if status >= 500:
            raise TransientProviderError(f"{self.name}: HTTP {status}: {text}", **kw)
        raise ProviderError(f"{self.name} refused the request (HTTP {status}): {text}", **kw)

    def close(self) -> None:
        self.session.close()


class AllAccepted(Sequence):
    """The answer of a provider that accepts a request all-or-nothing (SendGrid, Mailgun): every recipient
    accepted under one message id. It reads as a list of Results (made on demand); the sender records it in
    one statement from `subscriber_ids` instead of a thousand Result objects."""

    all_accepted = True

    def __init__(self, batch: Batch, message_id: str | None):
        self.subscriber_ids = [r.subscriber_id for r in batch.recipients]
        self.message_id = message_id

    def __len__(self) -> int:
        return len(self.subscriber_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [Result(i, True, message_id=self.message_id) for i in self.subscriber_ids[index]]
        return Result(self.subscriber_ids[index], True, message_id=self.message_id)


def all_ok(batch: Batch, message_id: str | None) -> AllAccepted:
    """Providers that accept a request all-or-nothing: one id for every recipient."""
    return AllAccepted(batch, message_id)


def shared_headers(batch: Batch) -> dict[str, str]:
    """Headers that are the same for every recipient of a batch (RFC 8058, RFC 2919)."""
    return {"List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST, "List-Id": batch.identity.list_id}
