"""Who the mail is from: the sender identity built from schedule.yaml's campaign settings."""

from __future__ import annotations

from campaign.providers.base import Identity
from campaign.series.edition import headers_for
from campaign.series.project import Project


def identity_for(project: Project) -> Identity:
    """The identity of messages that are not a day's issue (welcome, confirmation, test copies of days not
    started); a started day's issues carry the headers stored with its edition (delivery/editions.py)."""
    return Identity(**vars(headers_for(project.schedule.campaign)))
