"""campaign: one awareness article → a September series of daily emails, delivered safely.

The public API, for scripts and tests; the `campaign` command line is built on it.
"""

from .config import Settings, load_settings
from .content import Article, Block, load_article, parse_article
from .errors import (CampaignError, ConfigurationError, ContentError, InvalidInput, Problem, ProviderError,
                     RenderError, SafetyLintError, ScheduleError)
from .plan import Part, Plan, make_plan
from .project import Project, load_project
from .render import RenderedIssue, Renderer
from .schedule import LoadedSchedule, Schedule, load_schedule, parse_schedule
from .sender import Sender, SendReport
from .store import Store
from .subscribers import import_subscribers

__all__ = [
    "Article", "Block", "CampaignError", "ConfigurationError", "ContentError", "InvalidInput", "LoadedSchedule",
    "Part", "Plan", "Problem", "Project", "ProviderError", "RenderError", "RenderedIssue", "Renderer",
    "SafetyLintError", "Schedule", "ScheduleError", "SendReport", "Sender", "Settings", "Store",
    "import_subscribers", "load_article", "load_project", "load_schedule", "load_settings", "make_plan",
    "parse_article", "parse_schedule",
]
