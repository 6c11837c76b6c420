"""Aggregate engagement counts (`engagement: aggregate`): per day and link, per day and variant, per day from
provider events — never a subscriber, never a client address or agent (series/engagement.py).

    count(day, kind, name)   one UPDATE … or INSERT: click/<link id>, open/<variant>, provider_open/all, …
    report()                 per day: delivered, clicks by link, opens, unsubscribes, pauses, complaints
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select

from campaign.ledger.schema import Tables, deliveries, engagement_counts, events
from campaign.ledger.states import SENT

CLICK, OPEN, PROVIDER_OPEN, PROVIDER_CLICK = "click", "open", "provider_open", "provider_click"
EVENT_KINDS = {"unsubscribe": "unsubscribes", "pause": "pauses", "complaint": "complaints"}


class Engagement(Tables):
    def count_engagement(self, day: date, kind: str, name: str, n: int = 1) -> None:
        with self.engine.begin() as conn:
            added = (
                self.insert(engagement_counts)
                .values(day=day, kind=kind, name=name, count=n)
                .on_conflict_do_update(
                    index_elements=["day", "kind", "name"], set_={"count": engagement_counts.c.count + n}
                )
            )
            conn.execute(added)

    def engagement_report(self) -> list[dict[str, Any]]:
        """One entry per day (sorted): delivered, clicks by link, opens (pixel + provider, approximate),
        unsubscribes, pauses and complaints (events received that day). No subscriber field anywhere."""
        days: dict[date, dict[str, Any]] = defaultdict(
            lambda: {"delivered": 0, "clicks": {}, "opens": 0, "unsubscribes": 0, "pauses": 0, "complaints": 0}
        )
        with self.engine.connect() as conn:
            for day, n in conn.execute(
                select(deliveries.c.day, func.count()).where(deliveries.c.status == SENT).group_by(deliveries.c.day)
            ):
                days[day]["delivered"] = n
            for day, kind, name, n in conn.execute(
                select(
                    engagement_counts.c.day,
                    engagement_counts.c.kind,
                    engagement_counts.c.name,
                    engagement_counts.c.count,
                )
            ):
                entry = days[day]
                if kind in (CLICK, PROVIDER_CLICK):
                    link = name if kind == CLICK else f"provider:{name}"
                    entry["clicks"][link] = entry["clicks"].get(link, 0) + n
                elif kind in (OPEN, PROVIDER_OPEN):
                    entry["opens"] += n
            for received, kind in conn.execute(
                select(events.c.received_at, events.c.kind).where(events.c.kind.in_(list(EVENT_KINDS)))
            ):
                days[received.date()][EVENT_KINDS[kind]] += 1
        return [{"day": day.isoformat(), **days[day]} for day in sorted(days)]
