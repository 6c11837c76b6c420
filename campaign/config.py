"""Settings from the environment — the only module that reads `os.environ`.

Everything else receives a frozen `Settings` (or a value taken from it), so tests build their own
without touching the process environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from campaign.errors import ConfigurationError, Problem

DEFAULT_PUBLIC_URL = "https://campaign.example.org"
# Used only when CAMPAIGN_SECRET_KEY is unset, so `make run` works on a fresh machine. Real providers and a
# non-loopback `campaign serve` refuse to run with it (see `Settings.require_real_secret`).
_DEV_SIGNING_KEY = "dev-only-" + "unsafe-signing-key"
DEFAULT_LEASE_SECONDS = 60.0  # CAMPAIGN_LEASE_SECONDS: a dead worker's batch is unknown this long after

# -- go-live: what counts as a placeholder, and what real mail needs (config and preflight/placeholders.py) ----
MIN_SECRET_LENGTH = 32  # characters of CAMPAIGN_SECRET_KEY for real mail (secrets.token_urlsafe(32) gives 43)
SECRET_FIX = "export CAMPAIGN_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
RESERVED_DOMAINS = ("example.org", "example.com", "example.net", "localhost")
RESERVED_TLDS = ("example", "test", "invalid", "localhost", "local")
PLACEHOLDER_MARKERS = ("placeholder", "example street", "anytown", "lorem ipsum", "your address")

# -- the provider registry: name -> (module, class); every list of provider names derives from it --------------
PROVIDER_CLASSES: dict[str, tuple[str, str]] = {
    "outbox": ("campaign.providers.outbox", "OutboxProvider"),
    "smtp": ("campaign.providers.smtp", "SMTPProvider"),
    "postmark": ("campaign.providers.postmark", "PostmarkProvider"),
    "sendgrid": ("campaign.providers.sendgrid", "SendGridProvider"),
    "mailgun": ("campaign.providers.mailgun", "MailgunProvider"),
    "resend": ("campaign.providers.resend", "ResendProvider"),
}
PROVIDER_NAMES = tuple(PROVIDER_CLASSES)


@dataclass(frozen=True)
class Settings:
    root: Path
    database_url: str
    provider_override: str | None
    outbox_dir: Path
    public_url: str
    secret_key: str = field(repr=False)
    secret_key_is_dev: bool
    environ: Mapping[str, str] = field(repr=False, default_factory=dict)
    lease_seconds: float = DEFAULT_LEASE_SECONDS  # how long a worker's claim lasts unless renewed
    # CAMPAIGN_ALERT_WEBHOOK_URL: where alerts are POSTed (Slack/Mattermost/Teams-style; a secret: never shown)
    alert_webhook_url: str | None = field(repr=False, default=None)
    metrics_token: str | None = field(repr=False, default=None)  # CAMPAIGN_METRICS_TOKEN: bearer for /metrics

    @property
    def no_ledger_yet(self) -> bool:
        """True when the database URL names a SQLite file that does not exist yet: nothing was ever recorded, so a
        command that only reads the ledger need not load SQLAlchemy (`campaign validate` in a new folder)."""
        scheme, sep, rest = self.database_url.partition("://")
        if not sep or not scheme.startswith("sqlite") or not rest.startswith("/"):
            return False
        database = rest[1:].split("?", 1)[0]
        return database not in ("", ":memory:") and not Path(database).exists()

    @property
    def schedule_path(self) -> Path:
        return self.root / "schedule.yaml"

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name)
        return value if value not in (None, "") else default

    def require(self, name: str, purpose: str) -> str:
        """An environment variable that must be set, or a ConfigurationError naming it."""
        value = self.get(name)
        if value is None:
            raise ConfigurationError(
                Problem(
                    "environment", None, name, f"not set ({purpose})", f"export {name}=… before running this command"
                )
            )
        return value

    def secret_problem(self, purpose: str) -> Problem | None:
        """Why the signing key is not fit for real mail (None: it is): the built-in development key, or
        shorter than MIN_SECRET_LENGTH characters."""
        fix = SECRET_FIX
        if self.secret_key_is_dev or self.secret_key == _DEV_SIGNING_KEY:
            return Problem(
                "environment",
                None,
                "CAMPAIGN_SECRET_KEY",
                f"not set ({purpose}); the built-in development key is only for the local outbox",
                fix,
            )
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            return Problem(
                "environment",
                None,
                "CAMPAIGN_SECRET_KEY",
                f"is {len(self.secret_key)} characters long ({purpose}); at least {MIN_SECRET_LENGTH} are needed",
                fix,
            )
        return None

    def require_real_secret(self, purpose: str) -> None:
        if problem := self.secret_problem(purpose):
            raise ConfigurationError(problem)

    def require_https_public_url(self) -> None:
        if urlparse(self.public_url).scheme != "https":
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    "CAMPAIGN_PUBLIC_URL",
                    f"must be an https URL for real sends (got {self.public_url!r}); "
                    "RFC 8058 one-click unsubscribe requires HTTPS",
                    "export CAMPAIGN_PUBLIC_URL=https://your-domain.example",
                )
            )


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    root = (root or Path.cwd()).resolve()
    public_url = (env.get("CAMPAIGN_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
    parsed = urlparse(public_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                "CAMPAIGN_PUBLIC_URL",
                f"must be an absolute http(s) URL (got {public_url!r})",
                "export CAMPAIGN_PUBLIC_URL=https://your-domain.example",
            )
        )
    secret = env.get("CAMPAIGN_SECRET_KEY") or ""
    lease = _lease_seconds(env.get("CAMPAIGN_LEASE_SECONDS") or "")
    outbox = Path(env.get("CAMPAIGN_OUTBOX") or "outbox")
    return Settings(
        root=root,
        database_url=env.get("CAMPAIGN_DATABASE_URL") or f"sqlite:///{root / 'campaign.db'}",
        provider_override=env.get("CAMPAIGN_PROVIDER") or None,
        outbox_dir=outbox if outbox.is_absolute() else root / outbox,
        public_url=public_url,
        secret_key=secret or _DEV_SIGNING_KEY,
        secret_key_is_dev=not secret,
        environ=env,
        lease_seconds=lease,
        alert_webhook_url=_alert_webhook_url(env.get("CAMPAIGN_ALERT_WEBHOOK_URL") or ""),
        metrics_token=env.get("CAMPAIGN_METRICS_TOKEN") or None,
    )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _alert_webhook_url(raw: str) -> str | None:
    """https only (an alert names the campaign and its figures); plain http only to this machine (tests)."""
    if not raw:
        return None
    parsed = urlparse(raw.strip())
    ok = bool(parsed.hostname) and (
        parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS)
    )
    if not ok or any(c in raw for c in "\r\n\t "):
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                "CAMPAIGN_ALERT_WEBHOOK_URL",
                "must be an https URL (plain http only for 127.0.0.1)",
                "export CAMPAIGN_ALERT_WEBHOOK_URL=https://hooks.example.org/… (the incoming-webhook URL)",
            )
        )
    return raw.strip()


def _lease_seconds(raw: str) -> float:
    if not raw:
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.5 <= value <= 3600:
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                "CAMPAIGN_LEASE_SECONDS",
                f"must be a number of seconds from 0.5 to 3600 (got {raw!r})",
                "export CAMPAIGN_LEASE_SECONDS=60 (or unset it)",
            )
        )
    return value


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
