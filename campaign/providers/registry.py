"""The one provider registry: every other list of providers derives from `REGISTRY`."""

from __future__ import annotations

import importlib

from campaign.config import Settings
from campaign.providers.base import Provider

# The one provider registry: name → (module, class). Every other list of providers derives from it (the
# schedule's `provider:` Literal is checked against it in the tests). Imported on demand: `campaign send`
# with the outbox never loads requests or smtplib.
REGISTRY: dict[str, tuple[str, str]] = {
    "outbox": ("campaign.providers.outbox", "OutboxProvider"),
    "smtp": ("campaign.providers.smtp", "SMTPProvider"),
    "postmark": ("campaign.providers.postmark", "PostmarkProvider"),
    "sendgrid": ("campaign.providers.sendgrid", "SendGridProvider"),
    "mailgun": ("campaign.providers.mailgun", "MailgunProvider"),
    "resend": ("campaign.providers.resend", "ResendProvider"),
}
PROVIDERS = tuple(REGISTRY)


def provider_name(settings: Settings, schedule_provider: str) -> str:
    return settings.provider_override or schedule_provider


def provider_class(name: str) -> type[Provider] | None:
    entry = REGISTRY.get(name)
    if entry is None:
        return None
    module = importlib.import_module(entry[0])
    return getattr(module, entry[1])


def accepts_utf8_local(name: str) -> bool:
    """Whether the named provider can deliver a non-ASCII local part (the import rule asks before storing)."""
    cls = provider_class(name)
    return bool(cls and cls.utf8_local)
