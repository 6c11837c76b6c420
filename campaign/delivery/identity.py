"""Who the mail is from: the sender identity built from schedule.yaml's campaign settings."""

from __future__ import annotations

from email.utils import parseaddr

from campaign.providers.base import Identity
from campaign.series.plan import slug
from campaign.series.project import Project


def identity_for(project: Project) -> Identity:
    c = project.schedule.campaign
    from_domain = parseaddr(c.from_)[1].rpartition("@")[2].strip() or "localhost"
    list_slug = slug(c.name) or "campaign"
    return Identity(
        from_=c.from_,
        reply_to=c.reply_to,
        list_id=f"<{list_slug}.{from_domain}>",
        message_stream=c.message_stream,
        sender_id=list_slug,
    )
