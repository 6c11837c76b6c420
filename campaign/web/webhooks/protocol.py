"""The webhook protocol every provider module implements, and the request it sees.

    route ──► authenticate(request) ──► Verified ──► (replay guard, by the route) ──► parse(body) ──► events

- `authenticate` looks at headers and raw bytes only (a signature, a timestamp, basic auth); it never
  decodes the body as JSON or form data — except Mailgun, whose signature sits *inside* the JSON body: its
  module reads only that small block, bounded in size and depth, before anything else (see mailgun.py).
  It raises `Unauthorized`, or returns `Verified` naming the one-time value the signature covers.
- the route (webhooks/__init__.py) remembers that value: a value seen before is a replay (401) or, for a
  provider that re-delivers on purpose (Svix), an `AlreadyProcessed` acknowledgement (200, nothing applied).
- `parse` turns the authenticated body into `WebhookEvent`s, raising `Malformed` for anything else.

Provider modules are pure: no Flask, no store, no environment (settings come in through `from_settings`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Self

from campaign.config import Settings
from campaign.web.webhooks.common import WebhookEvent


@dataclass(frozen=True)
class WebhookRequest:
    """What a provider may look at: the headers (names in lower case), the raw body, the time now."""

    headers: Mapping[str, str]
    body: bytes
    now: datetime


@dataclass(frozen=True)
class Verified:
    """An authenticated request. `once` is the signed one-time value (Mailgun's token, Svix's message id, a
    digest of SendGrid's signed bytes), remembered for `keep_for`; None when the scheme has none (basic auth).
    `redelivery`: the provider resends the same value after a failure, so a repeat is acknowledged, not
    refused."""

    once: str | None = None
    keep_for: timedelta = timedelta(0)
    redelivery: bool = False


class WebhookProvider(ABC):
    name: ClassVar[str]
    max_body: ClassVar[int] = 256 * 1024  # larger bodies are refused (413) before authentication

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        """The configured verifier, or None when its secret is not set. A malformed secret raises
        ConfigurationError (at start-up)."""

    @abstractmethod
    def authenticate(self, request: WebhookRequest) -> Verified:
        """Check the request's credentials before anything reads the body; raise Unauthorized."""

    @abstractmethod
    def parse(self, body: bytes) -> list[WebhookEvent]:
        """The authenticated body as normalised events; raise Malformed."""

    @classmethod
    def refusal_headers(cls) -> dict[str, str]:
        """Headers for a 401 (basic auth asks for credentials)."""
        return {}
