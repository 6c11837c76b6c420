"""The one provider registry: every other list of providers derives from `REGISTRY`."""

from __future__ import annotations

import importlib

from campaign.config import PROVIDER_CLASSES, Settings
from campaign.providers.base import Provider

# The one provider registry lives in config (series validates `provider:` against it, below providers): the
# classes are imported on demand, so `campaign send` with the outbox never loads requests or smtplib.
REGISTRY = PROVIDER_CLASSES
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
