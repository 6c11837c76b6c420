"""One exception tree for the whole package.

The CLI maps these to exit codes: `InvalidInput` (and its children) → 2, `CampaignError` → 1.
`ConfigurationError` is deliberately *not* a `ProviderError`: retry loops catch provider errors and must
never swallow a missing key or a bad token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class CampaignError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file: where, what, and how to fix it."""

    file: str
    line: int | None
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        fix = f" — {self.fix}" if self.fix else ""
        return f"{where}:{field} {self.message}{fix}"


class InvalidInput(CampaignError):
    """User input (schedule, CSV, templates, config, arguments) is wrong. Exit code 2.

    Carries every problem found, so the user can fix them all in one pass.
    """

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, (Problem, str)):
            problems = [problems]
        self.problems = [p if isinstance(p, Problem) else Problem("", None, "", p, "") for p in problems]
        super().__init__("\n".join(str(p).strip() for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p).strip() for p in self.problems]


class ScheduleError(InvalidInput):
    """schedule.yaml is invalid."""


class ContentError(InvalidInput):
    """content/ (article, disclaimer, crisis resources) is invalid."""


class ImportError_(InvalidInput):
    """A subscriber CSV is invalid. (Trailing underscore: do not shadow the builtin.)"""


class RenderError(InvalidInput):
    """A template is broken, or its output lacks a required safety element."""


class SafetyLintError(InvalidInput):
    """Subscriber-facing text breaks a safe-messaging rule that nobody acknowledged."""


class ConfigurationError(InvalidInput):
    """A missing or malformed setting (usually an environment variable). Never retried."""


class PausedError(CampaignError):
    """The series is paused; nothing may be sent until `campaign resume`."""


class ProviderError(CampaignError):
    """The email provider refused or failed a request."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None, body: str = ""):
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.body = body


class AuthenticationFailed(ProviderError):
    """Bad credentials or unknown domain: the whole send must stop at once."""


class RateLimited(ProviderError):
    """429: slow down. `retry_after` is seconds, or None when the provider gives no hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """5xx, timeout, connection reset: worth retrying with backoff."""


class OutcomeUnknown(ProviderError):
    """The request may or may not have been delivered (a read timeout, a connection dropped after the request
    was sent, a 502/504 from a proxy). Retried only where the provider de-duplicates (Resend's idempotency
    key); otherwise the deliveries are recorded as unknown, never resent blindly."""


class RecipientRejected(ProviderError):
    """Permanent failure for one address only."""


class UnsupportedFeature(CampaignError):
    def __init__(self, feature: str, *, provider: str):
        super().__init__(f"{provider} does not support {feature}")
        self.feature = feature
        self.provider = provider


class LockHeld(CampaignError):
    """Another live process holds a named lock (the scheduler, or a day's send)."""

    def __init__(self, name: str, owner: str, since: datetime):
        super().__init__(f"{name} is held by process {owner} since {since:%Y-%m-%d %H:%M:%S} UTC")
        self.owner = owner
