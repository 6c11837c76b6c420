"""Where a send's batches come from: the day's queue, ledger rows to retry, unknown batches to resend.

- `enqueue` queues the owed subscribers of a day with their crisis variant, in one statement;
- `queued` claims batches from that queue (one variant each, at most the provider's cap) as the sender
  asks for them, and drops the queued rows of subscribers who left once the queue is drained;
- `in_state` / `unknown_batches` read keyset pages (by subscriber id) of ledger rows and yield `Chunk`s
  that the sender claims (`reclaim`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from campaign.delivery.editions import Editions
from campaign.delivery.values import Chunk
from campaign.ledger.schema import variant_key
from campaign.ledger.states import ACTIVE, UNKNOWN
from campaign.ledger.subscribers import Audience
from campaign.ledger.views import SenderLedger

PAGE_SIZE = 2000
IDEMPOTENCY_WINDOW = timedelta(hours=23)  # Resend remembers a key 24 h: resend automatically only within it


def pages(read: Callable[[int], list]) -> Iterator[list]:
    after = 0
    while rows := read(after):
        yield rows
        after = rows[-1].id


class BatchSource:
    def __init__(
        self, editions: Editions, store: SenderLedger, *, max_batch: int, clock: Callable[[], datetime]
    ) -> None:
        self.editions = editions
        self.store = store
        self.max_batch = max_batch
        self.clock = clock

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.editions.send_at(day)

    def enqueue(self, day: date, audience: Audience | None = None) -> None:
        self.store.enqueue(day, self.cutoff(day), self.editions.variants(day), at=self.clock(), audience=audience)

    def queued(self, day: date, claim: Callable[[str, int], Chunk | None]) -> Iterator[Chunk]:
        """Batches claimed from the day's queue as they are asked for (`claim(variant, after_id)` claims one),
        one variant after another; variants the project no longer knows are drained last.

        Each claim starts after the last subscriber this worker claimed (keyset): the index entries of rows
        already claimed stay behind in the queue index until PostgreSQL vacuums them, and a claim from the
        start of the range would step over all of them every time (quadratic on a 1M list). When the range
        ahead is empty, one claim from the start picks up rows skipped while locked or released since."""
        known = self.editions.known_variants(day)
        for variant in known + [v for v in self.store.queued_variants(day) if v not in known]:
            after = 0
            while True:
                chunk = claim(variant, after)
                if chunk is None and after:
                    after = 0
                    chunk = claim(variant, 0)
                if chunk is None:
                    break
                after = chunk.rows[-1].id
                yield chunk
        self.store.drop_inactive(day)
        # readers who paused while a claim ran: their part is postponed (or skipped), never left queued
        self.store.hold_paused(day, at=self.clock(), postpone=self.editions.require(day).send.postpones)

    def chunked(self, day: date, rows_pages: Iterator[list], restore_to: str | None) -> Iterator[Chunk]:
        """Fill each variant's batch across pages, so a small country still gets full batches."""
        pending: dict[str, list] = defaultdict(list)
        variants: dict[tuple[str | None, str | None], str] = {}
        for rows in rows_pages:
            for row in rows:
                variant = variants.get((row.country, row.format))
                if variant is None:
                    variant = variants[row.country, row.format] = variant_key(
                        self.editions.variant_for(day, row.country), row.format
                    )
                group = pending[variant]
                group.append(row)
                if len(group) >= self.max_batch:
                    yield Chunk(variant, pending.pop(variant), None, restore_to)
        for variant in sorted(pending):
            yield Chunk(variant, pending[variant], None, restore_to)

    def in_state(self, day: date, state: str, audience: Audience | None = None) -> Iterator[Chunk]:
        return self.chunked(
            day,
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
            variants = {variant_key(self.editions.variant_for(day, r.country), r.format) for r in members}
            if (
                batch_id
                and len(variants) == 1
                and all(r.subscriber_status == ACTIVE for r in members)
                and all(now - r.updated_at < IDEMPOTENCY_WINDOW for r in members)
            ):
                yield Chunk(variants.pop(), members, batch_id, UNKNOWN)

    def count_by_variant(self, day: date, audience: Audience | None = None) -> dict[str, int]:
        """What a dry run reports: owed subscribers per crisis variant."""
        variants = self.editions.variants(day)
        return self.store.count_owed_by_variant(day, self.cutoff(day), variants, at=self.clock(), audience=audience)
