"""Who the mail is from: the sender identity built from schedule.yaml's campaign settings."""

from __future__ import annotations

import secrets
from email.utils import parseaddr
from typing import Any, Protocol

from campaign.providers.base import Identity
from campaign.series.plan import slug
from campaign.series.project import Project

INSTANCE_KEY = "message_id_instance"  # the state row holding this database's random Message-ID part


class StateStore(Protocol):
    def get_state(self, key: str) -> Any: ...
    def set_state(self, key: str, value: Any) -> None: ...
    def add_state(self, key: str, value: Any) -> Any: ...


def instance_part(store: StateStore) -> str:
    """This database's random part of every Message-ID: made once (the first writer wins) and kept."""
    found = store.get_state(INSTANCE_KEY)
    if isinstance(found, str) and found:
        return found
    return str(store.add_state(INSTANCE_KEY, secrets.token_hex(8)))


def identity_for(project: Project, store: StateStore | None = None) -> Identity:
    """The sender identity; with `store`, Message-IDs carry the database's random part (always, when sending)."""
    c = project.schedule.campaign
    from_domain = parseaddr(c.from_)[1].rpartition("@")[2].strip() or "localhost"
    list_slug = slug(c.name) or "campaign"
    return Identity(
        from_=c.from_,
        reply_to=c.reply_to,
        list_id=f"<{list_slug}.{from_domain}>",
        message_stream=c.message_stream,
        sender_id=list_slug,
        instance=instance_part(store) if store is not None else "",
    )
