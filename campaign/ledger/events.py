"""Events received from providers' webhooks, and the replay guard on their tokens."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from campaign.clock import utcnow
from campaign.ledger.schema import Tables, events, webhook_tokens


class EventLog(Tables):
    def add_event(
        self,
        *,
        provider: str,
        kind: str,
        email: str | None,
        subscriber_id: int | None,
        payload: Any,
        at: datetime | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    received_at=at or utcnow(),
                    provider=provider,
                    kind=kind,
                    email=email,
                    subscriber_id=subscriber_id,
                    payload=json.dumps(payload, sort_keys=True, default=str),
                )
            )

    def forget_webhook_token(self, provider: str, token: str) -> None:
        """Undo `remember_webhook_token` when the request could not be applied, so the provider's retry of the
        same signed request is accepted (an event is never lost to our own failure)."""
        with self.engine.begin() as conn:
            conn.execute(
                webhook_tokens.delete().where(webhook_tokens.c.provider == provider, webhook_tokens.c.token == token)
            )

    def remember_webhook_token(self, provider: str, token: str, *, at: datetime, forget_before: datetime) -> bool:
        """True the first time a provider's webhook token is seen, False on a replay. Tokens seen before
        `forget_before` are dropped: their signed timestamps are too old to be accepted anyway."""
        insert = (
            self.insert(webhook_tokens)
            .values(provider=provider, token=token, seen_at=at)
            .on_conflict_do_nothing()
            .returning(webhook_tokens.c.token)
        )
        with self.engine.begin() as conn:
            conn.execute(webhook_tokens.delete().where(webhook_tokens.c.seen_at < forget_before))
            return conn.execute(insert).first() is not None
