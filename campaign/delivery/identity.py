"""Who the mail is from: the sender identity built from schedule.yaml's campaign settings."""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from campaign.providers.base import Identity
from campaign.series.edition import headers_for
from campaign.series.project import Project

INSTANCE_KEY = "message_id_instance"  # the state row holding this database's random Message-ID part


class StateStore(Protocol):
    def get_state(self, key: str) -> Any: ...
    def add_state(self, key: str, value: Any) -> Any: ...


def instance_part(store: StateStore) -> str:
    """This database's random part of every Message-ID: made once (the first writer wins) and kept."""
    found = store.get_state(INSTANCE_KEY)
    if isinstance(found, str) and found:
        return found
    return str(store.add_state(INSTANCE_KEY, secrets.token_hex(8)))


def identity_for(project: Project, store: StateStore | None = None) -> Identity:
    """The identity of messages that are not a day's issue (welcome, confirmation, test copies of days not
    started); a started day's issues carry the headers stored with its edition (delivery/editions.py). With
    `store`, Message-IDs carry the database's random part (always, when sending)."""
    instance = instance_part(store) if store is not None else ""
    return Identity(**vars(headers_for(project.schedule.campaign)), instance=instance)
