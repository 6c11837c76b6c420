"""campaign: one awareness article → a September series of daily emails, delivered safely.

The public API, for scripts and tests; the `campaign` command line is built on it. Names are loaded lazily
(PEP 562), so `import campaign` — and every command — pays only for what it uses.

Layers, top to bottom (a package imports only from those below it):
    cli → web → timing → delivery → providers → ledger → series → errors, config, clock
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS = {
    "Article": "campaign.series.content",
    "Block": "campaign.series.content",
    "CampaignError": "campaign.errors",
    "ConfigurationError": "campaign.errors",
    "ContentError": "campaign.errors",
    "InvalidInput": "campaign.errors",
    "LoadedSchedule": "campaign.series.schedule",
    "Part": "campaign.series.plan",
    "Plan": "campaign.series.plan",
    "Problem": "campaign.errors",
    "Project": "campaign.series.project",
    "ProviderError": "campaign.errors",
    "RenderError": "campaign.errors",
    "RenderedIssue": "campaign.series.render",
    "Renderer": "campaign.series.render",
    "SafetyLintError": "campaign.errors",
    "Schedule": "campaign.series.schedule",
    "ScheduleError": "campaign.errors",
    "SendReport": "campaign.delivery.sender",
    "Sender": "campaign.delivery.sender",
    "Settings": "campaign.config",
    "Store": "campaign.ledger.store",
    "import_subscribers": "campaign.ledger.csv_import",
    "load_article": "campaign.series.content",
    "load_project": "campaign.series.project",
    "load_schedule": "campaign.series.schedule",
    "load_settings": "campaign.config",
    "make_plan": "campaign.series.plan",
    "parse_article": "campaign.series.content",
    "parse_schedule": "campaign.series.schedule",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'campaign' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from campaign.config import Settings, load_settings
    from campaign.delivery.sender import Sender, SendReport
    from campaign.errors import (
        CampaignError,
        ConfigurationError,
        ContentError,
        InvalidInput,
        Problem,
        ProviderError,
        RenderError,
        SafetyLintError,
        ScheduleError,
    )
    from campaign.ledger.csv_import import import_subscribers
    from campaign.ledger.store import Store
    from campaign.series.content import Article, Block, load_article, parse_article
    from campaign.series.plan import Part, Plan, make_plan
    from campaign.series.project import Project, load_project
    from campaign.series.render import RenderedIssue, Renderer
    from campaign.series.schedule import LoadedSchedule, Schedule, load_schedule, parse_schedule
