"""Email providers. `make_provider` picks one by name (schedule.yaml's `provider:` or CAMPAIGN_PROVIDER)."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigurationError, Problem
from .base import Batch, Identity, OutgoingMessage, Provider, Recipient, Result
from .outbox import OutboxProvider

__all__ = ["Batch", "Identity", "OutgoingMessage", "Provider", "Recipient", "Result", "make_provider",
           "provider_name"]


def provider_name(settings: Settings, schedule_provider: str) -> str:
    return settings.provider_override or schedule_provider


def make_provider(name: str, settings: Settings, campaign=None) -> Provider:
    """Build the named provider; credentials are read (and their absence reported) before anything is sent."""
    if name == "outbox":
        return OutboxProvider(settings.outbox_dir)
    raise ConfigurationError(Problem("schedule.yaml", None, "campaign.provider",
                                     f"unknown provider {name!r}", "use outbox"))
