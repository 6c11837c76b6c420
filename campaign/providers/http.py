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

Payloads are built for speed (`payload.py`); base URL and credential syntax are checked in `checks.py`. A
payload that cannot be built for some recipients rejects those alone; the rest of the batch is sent.
"""

from __future__ import annotations

import email.utils
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from campaign.config import Settings
from campaign.errors import (
    AuthenticationFailed,
    LocalSendError,
    OutcomeUnknown,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from campaign.providers.base import LIST_UNSUBSCRIBE_POST, AllAccepted, Batch, Provider, Result
from campaign.providers.checks import api_base_url, is_loopback, require_credential
from campaign.providers.payload import (
    SplitTemplate,
    fill_each,
    json_array,
    json_fragment,
    json_template,
    marked_parts,
    slot,
)

__all__ = ["SplitTemplate", "api_base_url", "fill_each", "is_loopback", "json_array", "json_fragment"]
__all__ += ["json_template", "marked_parts", "retry_after_seconds", "slot"]  # (re-exported for the providers)

USER_AGENT = "campaign/0.1 (+newsletter sender)"


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


# Raised before any byte leaves the machine: a URL requests cannot use, a header value with a line break or
# a character http.client cannot encode (a credential pasted with a newline, say).
_LOCAL_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    UnicodeEncodeError,
)


_BUILD_ERRORS = (ValueError, TypeError, KeyError, UnicodeError)


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
        key = require_credential(settings, cls.credential_variable, cls.credential_purpose)
        factory: Callable[..., HTTPProvider] = cls  # subclasses take (key, base_url, *, concurrency)
        return factory(
            key,
            api_base_url(settings, cls.api_url_variable, cls.default_url),
            concurrency=getattr(campaign, "concurrency", None),
        )

    # -- what a provider fills in ------------------------------------------------------------------
    @abstractmethod
    def build_request(self, batch: Batch) -> HTTPRequest: ...

    @abstractmethod
    def parse_results(self, response: requests.Response, batch: Batch) -> Sequence[Result]: ...

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
    def send_batch(self, batch: Batch) -> Sequence[Result]:
        try:
            request = self.build_request(batch)
        except _BUILD_ERRORS as err:
            return self._without_unbuildable(batch, err)
        return self.parse_results(self.post(request), batch)

    def _without_unbuildable(self, batch: Batch, err: Exception) -> list[Result]:
        """The payload could not be built: find the recipients it fails for (each alone), reject those, send the
        rest. If it fails for every one of them the fault is not theirs: nothing is sent, the send stops."""
        bad: list[Result] = []
        good = []
        for r in batch.recipients:
            try:
                self.build_request(replace(batch, recipients=(r,)))
            except _BUILD_ERRORS as one:
                bad.append(
                    Result(r.subscriber_id, False, error=f"not sent: cannot build the message: {one}", permanent=True)
                )
            else:
                good.append(r)
        if not good:
            raise LocalSendError(f"{self.name}: the request could not be built ({type(err).__name__}: {err})") from err
        return [*self.send_batch(replace(batch, recipients=tuple(good))), *bad]

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
        except _LOCAL_ERRORS as err:  # refused by requests/http.client before a byte was sent
            raise LocalSendError(
                f"{self.name}: the request to {url} could not be built ({type(err).__name__}: {err}) — check "
                f"{self.api_url_variable or 'the base URL'} and {self.credential_variable or 'the credentials'}"
            ) from err
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
        kw: dict[str, Any] = {"provider": self.name, "status": status, "body": text}
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


def all_ok(batch: Batch, message_id: str | None) -> AllAccepted:
    """Providers that accept a request all-or-nothing: one id for every recipient."""
    return AllAccepted(batch, message_id)


def shared_headers(batch: Batch) -> dict[str, str]:
    """Headers that are the same for every recipient of a batch (RFC 8058, RFC 2919)."""
    return {
        "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
        "List-Id": batch.identity.list_id,
        "Feedback-ID": batch.feedback_id,
    }
