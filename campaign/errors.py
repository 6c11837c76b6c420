"""One exception tree for the whole package (every exception class the package defines lives here).

    CampaignError                     exit 1 unless a child says otherwise
    ├── InvalidInput                  exit 2: one `file:line: field: what — fix` line per Problem
    │   ├── ScheduleError             schedule.yaml
    │   ├── ContentError              content/ (article, disclaimer, crisis resources)
    │   ├── ImportError_              a subscriber CSV
    │   ├── RenderError               a template, or an output whose safety blocks are missing or hidden
    │   ├── SafetyLintError           subscriber-facing text breaks an unacknowledged safe-messaging rule
    │   └── ConfigurationError        a setting (environment variable, database URL): never retried
    ├── PausedError                   the series is paused
    ├── ProviderError                 the provider refused or failed a request (.provider, .status, .body)
    │   ├── AuthenticationFailed      bad credentials: the whole send stops at once
    │   ├── RateLimited               429 (.retry_after)
    │   ├── TransientProviderError    5xx, timeout, reset: retried with back-off
    │   ├── OutcomeUnknown            the request may have been delivered: never retried blindly
    │   └── RecipientRejected         permanent, for one address
    ├── LocalSendError                this machine failed before any request left it: claims released
    ├── BatchCancelled                internal to the sender: a stop before the batch's request started
    ├── UnsupportedFeature            a provider cannot do what was asked
    ├── WebhookRefused                a webhook request that changes nothing (never a 500)
    │   ├── Unauthorized              401
    │   ├── Malformed                 400
    │   └── AlreadyProcessed          200, applied once
    ├── StorageError                  a full disk or a failing database stopped the command (exit 1, alerted)
    ├── AlertNotSent                  an alert channel could not deliver an alert (retried with back-off)
    ├── LockHeld                      another live process holds the lock
    ├── IllegalTransition             a day's state asked to move where its state machine has no arrow
    ├── StaleProject                  the loaded campaign lacks days another process started since: reload
    ├── DNSLookupFailed               `campaign check` could not ask DNS at all
    ├── EditConflict                  a studio save found the file changed on disk (409): nothing written
    └── ErasureIncomplete             an erasure is recorded, its database files not cleaned yet: run it again

The CLI maps `InvalidInput` → 2 and `CampaignError` → 1. `ConfigurationError` is deliberately *not* a
`ProviderError`: retry loops catch provider errors and must never swallow a missing key or a bad token.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def __init__(self, problems: Sequence[Problem | str] | Problem | str):
        items: Sequence[Problem | str] = [problems] if isinstance(problems, (Problem, str)) else problems
        self.problems = [p if isinstance(p, Problem) else Problem("", None, "", p, "") for p in items]
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
    key); otherwise the deliveries are recorded as unknown, never resent blindly. `final`: asking again can
    only get the same answer (never retried)."""

    final: bool = False


class LocalSendError(CampaignError):
    """This machine failed before a request left it (outbox not writable, disk full, an unusable provider
    URL or credential): nothing was sent, so the batch's claims are released and the send stops (exit 1).
    `done` holds the results of messages completed before the failure (outbox files already written)."""

    def __init__(self, message: str, *, done: list | None = None):
        super().__init__(message)
        self.done = done or []


class BatchCancelled(CampaignError):
    """Internal to the sender: the send is stopping and this batch's request was never started (its claims are
    released). Never leaves `Sender.send_day`."""


class RecipientRejected(ProviderError):
    """Permanent failure for one address only."""


class UnsupportedFeature(CampaignError):
    def __init__(self, feature: str, *, provider: str):
        super().__init__(f"{provider} does not support {feature}")
        self.feature = feature
        self.provider = provider


class WebhookRefused(CampaignError):
    """A provider webhook request that changes nothing (web/webhooks/). Never a 500."""


class Unauthorized(WebhookRefused):
    """Missing or wrong credentials/signature, stale timestamp, replayed token: 401."""


class Malformed(WebhookRefused):
    """An authenticated body we cannot read (not JSON, too deep, wrong shape): 400."""


class AlreadyProcessed(WebhookRefused):
    """A provider's re-delivery of a message already applied: acknowledged (200), applied once."""


class StorageError(CampaignError):
    """A full disk, a read-only database or an I/O error: one line naming the cause and the fix (exit 1)."""


class AlertNotSent(CampaignError):
    """One alert channel could not deliver one alert (retried with back-off; `campaign alerts list`)."""


class LockHeld(CampaignError):
    """Another live process holds a named lock (the scheduler, or a day's send)."""

    def __init__(self, name: str, owner: str, since: datetime):
        super().__init__(f"{name} is held by process {owner} since {since:%Y-%m-%d %H:%M:%S} UTC")
        self.owner = owner


class DNSLookupFailed(CampaignError):
    """`campaign check` could not ask DNS at all (no resolver, timeouts): not the same as a missing record."""


class IllegalTransition(CampaignError):
    """A day's state asked to make a move its state machine (ledger/issues.py) does not draw."""

    def __init__(self, day, current: str | None, target: str) -> None:
        super().__init__(f"day {day}: cannot move from {current} to {target}")


class StaleProject(CampaignError):
    """The project a send was given lacks days the ledger recorded as started since it was loaded."""


class EditConflict(CampaignError):
    """An organiser's save found the file changed since their editor loaded it (another organiser, a text
    editor, git): nothing is written; `.current` is the text on disk now and `.etag` its version."""

    def __init__(self, path: str, current: str, etag: str):
        super().__init__(f"{path} changed on disk since it was loaded: nothing was written")
        self.path = path
        self.current = current
        self.etag = etag


class ErasureIncomplete(CampaignError):
    """An erasure is recorded, but the database files could not be cleaned yet (another process held the SQLite
    WAL): running the erase or purge again finishes it."""
