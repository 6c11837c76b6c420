"""Email providers. `make_provider` picks one by name (schedule.yaml's `provider:` or CAMPAIGN_PROVIDER).

Credentials come only from the environment (through `Settings`):
  postmark  POSTMARK_SERVER_TOKEN                   [POSTMARK_API_URL]
  sendgrid  SENDGRID_API_KEY                        [SENDGRID_API_URL]
  mailgun   MAILGUN_API_KEY, MAILGUN_DOMAIN         [MAILGUN_API_URL]
  resend    RESEND_API_KEY                          [RESEND_API_URL]
  smtp      SMTP_HOST [SMTP_PORT, SMTP_SECURITY=starttls|ssl|none, SMTP_USERNAME, SMTP_PASSWORD, SMTP_CA_FILE]
The *_API_URL overrides (scheme and host) are for tests and proxies.
"""

from __future__ import annotations

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem
from campaign.providers.base import Batch, Identity, OutgoingMessage, Provider, Recipient, Result
from campaign.providers.outbox import OutboxProvider

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
]

PROVIDERS = ("outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend")


def provider_name(settings: Settings, schedule_provider: str) -> str:
    return settings.provider_override or schedule_provider


def _provider_class(name: str):
    # Imported on demand: `campaign send` with the outbox never loads requests or smtplib.
    if name == "postmark":
        from campaign.providers.postmark import PostmarkProvider

        return PostmarkProvider
    if name == "sendgrid":
        from campaign.providers.sendgrid import SendGridProvider

        return SendGridProvider
    if name == "mailgun":
        from campaign.providers.mailgun import MailgunProvider

        return MailgunProvider
    if name == "resend":
        from campaign.providers.resend import ResendProvider

        return ResendProvider
    if name == "smtp":
        from campaign.providers.smtp import SMTPProvider

        return SMTPProvider
    return None


def make_provider(name: str, settings: Settings, campaign=None) -> Provider:
    """Build the named provider; credentials are read (and their absence reported) before anything is sent.

    `campaign` is schedule.yaml's campaign settings (for `concurrency`); it may be None.
    """
    if name == "outbox":
        return OutboxProvider(settings.outbox_dir)
    cls = _provider_class(name)
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
