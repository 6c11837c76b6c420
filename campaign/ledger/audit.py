"""The studio's audit log: append-only events tagged `source:subject:action` (`AuditTag`), like PyPI's
warehouse. `record_event` is the only write; there is no update or delete of these rows anywhere.

`additional` is a small JSON object; callers never put a secret, a sign-in token or a reader's address in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from campaign.ledger.schema import Tables, audit_events
from campaign.ledger.states import AuditTag

MAX_CLIENT = 64


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    tag: str
    user_id: int | None
    email: str | None
    client: str | None
    additional: dict[str, Any]


class AuditLog(Tables):
    def record_event(
        self,
        tag: AuditTag,
        *,
        at: datetime,
        client: str | None,
        user_id: int | None = None,
        email: str | None = None,
        additional: dict[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_events.insert().values(
                    at=at,
                    tag=tag.value,
                    user_id=user_id,
                    email=email,
                    client=(client or "")[:MAX_CLIENT] or None,
                    additional=json.dumps(additional or {}, sort_keys=True, default=str),
                )
            )

    def audit_events(self, *, since: datetime | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Oldest first (newest last); `limit` keeps the newest ones."""
        query = select(audit_events)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if limit is not None:
            inner = query.order_by(audit_events.c.id.desc()).limit(limit).subquery()
            query = select(inner)
            order = inner.c.id
        else:
            order = audit_events.c.id
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(order)).all()
        return [AuditEvent(r.id, r.at, r.tag, r.user_id, r.email, r.client, json.loads(r.additional)) for r in rows]
