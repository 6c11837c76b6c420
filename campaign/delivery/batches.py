"""Where a send's batches come from: owed subscribers, ledger rows to retry, unknown batches to resend.

Every source reads keyset pages (by subscriber id) and yields `Chunk`s of one crisis variant, at most the
provider's batch cap each. Reading only: claiming is the sender's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from campaign.delivery.values import Chunk
from campaign.ledger.store import UNKNOWN, Store
from campaign.ledger.subscribers import Audience
from campaign.series.project import Project

PAGE_SIZE = 2000
IDEMPOTENCY_WINDOW = timedelta(hours=23)  # Resend remembers a key 24 h: resend automatically only within it


def pages(read: Callable[[int], list]) -> Iterator[list]:
    after = 0
    while rows := read(after):
        yield rows
        after = rows[-1].id


class BatchSource:
    def __init__(self, project: Project, store: Store, *, max_batch: int, clock: Callable[[], datetime]) -> None:
        self.project = project
        self.store = store
        self.max_batch = max_batch
        self.clock = clock

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.project.schedule.send_at(day)

    def owed_pages(self, day: date, audience: Audience | None = None) -> Iterator[list]:
        cutoff = self.cutoff(day)
        return pages(
            lambda after: self.store.owed_page(
                day, cutoff, after_id=after, limit=PAGE_SIZE, at=self.clock(), extra_where=audience
            )
        )

    def chunked(self, rows_pages: Iterator[list], restore_to: str | None) -> Iterator[Chunk]:
        """Fill each variant's batch across pages, so a small country still gets full batches."""
        pending: dict[str, list] = defaultdict(list)
        variants: dict[str | None, str] = {}
        for rows in rows_pages:
            for row in rows:
                variant = variants.get(row.country)
                if variant is None:
                    variant = variants[row.country] = self.project.variant_for(row.country)
                group = pending[variant]
                group.append(row)
                if len(group) >= self.max_batch:
                    yield Chunk(variant, pending.pop(variant), None, restore_to)
        for variant in sorted(pending):
            yield Chunk(variant, pending[variant], None, restore_to)

    def owed(self, day: date, audience: Audience | None = None) -> Iterator[Chunk]:
        return self.chunked(self.owed_pages(day, audience), None)

    def in_state(self, day: date, state: str, audience: Audience | None = None) -> Iterator[Chunk]:
        return self.chunked(
            pages(
                lambda after: self.store.rows_in_state(day, state, after_id=after, limit=PAGE_SIZE, audience=audience)
            ),
            state,
        )

    def unknown_batches(self, day: date) -> Iterator[Chunk]:
        """Unknown batches resent whole under their own batch id, so the idempotency key is the same and the
        provider delivers each message at most once. A batch that changed (someone unsubscribed since) or
        is older than the provider remembers keys stays unknown for the operator."""
        rows = self.store.rows_by_batch(day, UNKNOWN)
        now = self.clock()
        by_batch: dict[str, list] = defaultdict(list)
        for row in rows:
            by_batch[row.batch_id].append(row)
        for batch_id, members in by_batch.items():
            variants = {self.project.variant_for(r.country) for r in members}
            if (
                batch_id
                and len(variants) == 1
                and all(r.subscriber_status == "active" for r in members)
                and all(now - r.updated_at < IDEMPOTENCY_WINDOW for r in members)
            ):
                yield Chunk(variants.pop(), members, batch_id, UNKNOWN)

    def count_by_variant(self, day: date, audience: Audience | None = None) -> dict[str, int]:
        """What a dry run reports: owed subscribers per crisis variant."""
        counts: dict[str, int] = {}
        for rows in self.owed_pages(day, audience):
            for row in rows:
                variant = self.project.variant_for(row.country)
                counts[variant] = counts.get(variant, 0) + 1
        return counts
