"""The project as the ledger remembers it: the organiser's files, with every day whose send has started kept
exactly as it went out (series/frozen.py). Every command that plans, builds, previews or sends loads it so."""

from __future__ import annotations

from datetime import date

from campaign.config import Settings
from campaign.ledger.views import SenderLedger
from campaign.series.frozen import FrozenDay, to_freeze
from campaign.series.project import Project, load_project


def frozen_days(store: SenderLedger) -> dict[date, FrozenDay]:
    return {day: FrozenDay.from_record(record) for day, record in store.frozen_days().items()}


def load_project_as_sent(settings: Settings, store: SenderLedger | None) -> Project:
    return load_project(settings, frozen_days(store) if store is not None else None)


def as_sent(project: Project, store: SenderLedger) -> Project:
    """`project` planned around every day the ledger recorded as started (the same object when none was
    started since it was loaded): what a long-running process (the scheduler) hands each send."""
    recorded = frozen_days(store)
    return project.with_frozen(recorded) if set(recorded) - set(project.frozen) else project


def freeze_through(project: Project, store: SenderLedger, day: date) -> None:
    """When `day`'s send starts: record it, and every earlier day not recorded yet, as it is now."""
    store.freeze_days(f.to_record() for f in to_freeze(project, day))
