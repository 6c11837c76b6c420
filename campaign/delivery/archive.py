"""Archiving a day's issue when its send starts: the web version the "view in browser" link shows."""

from __future__ import annotations

from datetime import date, datetime

from campaign.delivery.as_sent import freeze_through
from campaign.ledger.store import Store
from campaign.series.project import Project


def archive_issue(project: Project, store: Store, day: date, *, number: int, at: datetime) -> None:
    """Freeze the day (and any earlier one not frozen yet) as it is now, and store its subject and web HTML (no
    personal fields); the archive serves it from now on."""
    freeze_through(project, store, day)
    store.save_issue(
        day,
        number=number,
        subject=project.content_for(day).subject,
        web_html=project.render(day, web=True).html,
        at=at,
    )
