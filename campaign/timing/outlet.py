"""The provider `campaign run` sends through: the outbox in a rehearsal, else the configured one; re-made
when an edit of schedule.yaml changes the provider, its rate limit or its concurrency."""

from __future__ import annotations

from collections.abc import Callable

from campaign.config import Settings
from campaign.providers import make_provider, provider_name
from campaign.providers.base import Provider
from campaign.providers.outbox import OutboxProvider
from campaign.series.project import Project


class ProviderOutlet:
    def __init__(self, settings: Settings, *, rehearse: bool, factory: Callable[[Project], Provider] | None = None):
        self.settings = settings
        self.rehearse = rehearse
        self._factory = factory or self._default
        self._provider: Provider | None = None
        self._key: str | None = None

    def name(self, project: Project) -> str:
        return (
            "outbox (rehearsal)" if self.rehearse else provider_name(self.settings, project.schedule.campaign.provider)
        )

    def _default(self, project: Project) -> Provider:
        if self.rehearse:
            return OutboxProvider(self.settings.outbox_dir)
        c = project.schedule.campaign
        return make_provider(provider_name(self.settings, c.provider), self.settings, c)

    def get(self, project: Project) -> Provider:
        """The provider for `project`'s schedule (the worker thread's; made again when an edit changes it)."""
        c = project.schedule.campaign
        key = f"{provider_name(self.settings, c.provider)}:{c.rate_limit}:{c.concurrency}"
        if self._provider is None or key != self._key:
            self.close()
            self._provider, self._key = self._factory(project), key
        return self._provider

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()
            self._provider = None
