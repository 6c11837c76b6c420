"""Deliveries still waiting for an operator: failed (retryable) and unknown (may or may not have gone out),
of subscribers who are still active — exactly the rows `send --retry-failed` and `send --resend-unknown`
would act on. Nothing may stay quiet about them (send, worker and status summaries name them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from campaign.ledger.schema import Tables, deliveries, subscribers
from campaign.ledger.states import ACTIVE, FAILED, UNKNOWN


@dataclass(frozen=True)
class Waiting:
    """One day's deliveries waiting for `--retry-failed` or `--resend-unknown`."""

    day: date
    failed: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.failed + self.unknown

    def describe(self) -> str:
        """One line naming the counts and the command that settles each (no address: counts only)."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} failed — retry with `campaign send {self.day} --retry-failed`")
        if self.unknown:
            parts.append(
                f"{self.unknown} unknown (may or may not have gone out) — check the provider's log, then "
                f"`campaign send {self.day} --resend-unknown`"
            )
        return f"{self.day}: " + "; ".join(parts) + " still waiting" if parts else f"{self.day}: nothing waiting"


class PendingDeliveries(Tables):
    def waiting_by_day(self, days: list[date] | None = None) -> dict[date, Waiting]:
        """Days with failed or unknown deliveries of active subscribers (days without any are left out)."""
        query = (
            select(deliveries.c.day, deliveries.c.status, func.count())
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.status.in_([FAILED.value, UNKNOWN.value]), subscribers.c.status == ACTIVE.value)
            .group_by(deliveries.c.day, deliveries.c.status)
        )
        if days is not None:
            query = query.where(deliveries.c.day.in_(days))
        counts: dict[date, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for day, status, n in conn.execute(query):
                counts.setdefault(day, {})[status] = n
        return {
            day: Waiting(day, failed=c.get(FAILED.value, 0), unknown=c.get(UNKNOWN.value, 0))
            for day, c in sorted(counts.items())
        }

    def waiting_on(self, day: date) -> Waiting:
        return self.waiting_by_day([day]).get(day, Waiting(day))
