"""Email providers. `make_provider` picks one by name (schedule.yaml's `provider:` or CAMPAIGN_PROVIDER).

Credentials come only from the environment (through `Settings`):
  postmark  POSTMARK_SERVER_TOKEN                   [POSTMARK_API_URL]
  sendgrid  SENDGRID_API_KEY                        [SENDGRID_API_URL]
  mailgun   MAILGUN_API_KEY, MAILGUN_DOMAIN         [MAILGUN_API_URL]
  resend    RESEND_API_KEY                          [RESEND_API_URL]
  smtp      SMTP_HOST [SMTP_PORT, SMTP_SECURITY=starttls|ssl|none, SMTP_USERNAME, SMTP_PASSWORD, SMTP_CA_FILE]
The *_API_URL overrides (scheme and host) are for tests and proxies.

`REGISTRY` is the one list of providers (the schedule's `provider:` Literal is checked against it in the
tests). `preflight_problems` finds, offline and all at once, every setting `make_provider` or a send would
refuse (for `validate`/`check`); `utf8_local_for` says whether non-ASCII local parts may be imported.
Modules: base (the interface), http/payload/checks (the HTTP providers' shared loop, JSON payloads, setting
syntax), one module per provider, outbox (and the MIME every SMTP message uses), preflight.
May import: ledger (address rules), series, errors/config/clock. Never delivery, timing, web or cli.
"""

from __future__ import annotations

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem
from campaign.providers.base import Batch, Identity, OutgoingMessage, Provider, Recipient, Result
from campaign.providers.outbox import OutboxProvider
from campaign.providers.preflight import preflight_problems
from campaign.providers.registry import PROVIDERS, REGISTRY, accepts_utf8_local, provider_class, provider_name

__all__ = [
    "Batch",
    "Identity",
    "OutgoingMessage",
    "Provider",
    "Recipient",
    "Result",
    "make_provider",
    "provider_name",
    "PROVIDERS",
    "REGISTRY",
    "accepts_utf8_local",
    "preflight_problems",
    "provider_class",
    "utf8_local_for",
]


def utf8_local_for(settings: Settings) -> bool:
    """Whether the provider a send would use (CAMPAIGN_PROVIDER, else schedule.yaml's `provider:`) delivers
    non-ASCII local parts — the import and sign-up rule. An unreadable schedule counts as "cannot"."""
    name = settings.provider_override
    if name is None:
        from campaign.errors import InvalidInput
        from campaign.series.schedule import load_schedule

        try:
            name = load_schedule(settings.schedule_path).schedule.campaign.provider
        except (InvalidInput, OSError, AttributeError):
            return False
    return accepts_utf8_local(name)


def make_provider(name: str, settings: Settings, campaign=None) -> Provider:
    """Build the named provider; credentials are read (and their absence reported) before anything is sent.

    `campaign` is schedule.yaml's campaign settings (for `concurrency`); it may be None.
    """
    if name == "outbox":
        return OutboxProvider(settings.outbox_dir)
    cls = provider_class(name)
    if cls is None:
        where = "CAMPAIGN_PROVIDER" if settings.provider_override == name else "campaign.provider"
        raise ConfigurationError(
            Problem(
                "environment" if where == "CAMPAIGN_PROVIDER" else "schedule.yaml",
                None,
                where,
                f"unknown provider {name!r}",
                f"use one of {', '.join(PROVIDERS)}",
            )
        )
    provider = cls.from_settings(settings, campaign)
    try:
        # Real mail carries real unsubscribe links: they must be signed with a real key and served over HTTPS.
        settings.require_real_secret(f"signing the unsubscribe links of real email sent through {name}")
        settings.require_https_public_url()
    except ConfigurationError:
        provider.close()
        raise
    return provider
