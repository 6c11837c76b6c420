"""A worker's claim on its in-flight rows: its id, the lease it renews from a heartbeat thread, fencing.

Every row a worker claims carries its id (host:pid:random) and `lease_until`. A heartbeat thread renews the
lease of the rows of the batches it holds every third of the lease; when the ledger says it holds fewer rows
than it thinks (another sender expired them: it was too slow, or cut off from the database for longer than
the lease), the worker is *fenced*: it starts no request and its records change nothing. `lock` is held
around every ledger write of the worker, so the heartbeat's count and the batches held always agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from campaign.clock import utcnow
from campaign.ledger.liveness import new_worker_id
from campaign.ledger.views import SenderLedger


class Lease:
    def __init__(self, store: SenderLedger, seconds: float, worker_id: str | None = None) -> None:
        self.store = store
        self.seconds = float(seconds)
        self.worker_id = worker_id or new_worker_id()
        self.lock = threading.Lock()
        self.held: dict[str, int] = {}  # batch id → rows of it this worker holds in flight
        self.fenced: str | None = None
        self._renewed = time.monotonic()

    def until(self) -> datetime:
        """The lease of a claim made now (wall clock: leases are compared across processes)."""
        return utcnow() + timedelta(seconds=self.seconds)

    def hold(self, batch_id: str, rows: int) -> None:
        self.held[batch_id] = rows

    def drop(self, batch_id: str) -> None:
        self.held.pop(batch_id, None)

    def fence(self, why: str) -> None:
        if self.fenced is None:
            self.fenced = why

    def check(self, batch_id: str, expected: int, changed: int) -> None:
        """A record that changed fewer rows than the batch held: those rows were taken from us."""
        if changed < expected:
            self.fence(
                f"batch {batch_id}: {expected - changed} of its {expected} row(s) were expired by another sender"
            )

    def renew(self) -> None:
        with self.lock:
            if not self.held:
                self._renewed = time.monotonic()
                return
            expected = sum(self.held.values())
            kept = self.store.renew_leases(self.worker_id, list(self.held), self.until())
            self._renewed = time.monotonic()
        if kept < expected:
            self.fence(f"lease lost: the ledger holds {kept} of this worker's {expected} in-flight row(s)")

    @contextmanager
    def heartbeat(self, on_fenced: Callable[[], None]) -> Iterator[None]:
        """Renew from a thread while the block runs; `on_fenced` is called once when the lease is lost."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.seconds / 3):
                try:
                    self.renew()
                except Exception as err:  # the database is away: past a whole lease, assume the rows are lost
                    if time.monotonic() - self._renewed > self.seconds:
                        self.fence(f"lease not renewed for {self.seconds:g}s ({err.__class__.__name__})")
                if self.fenced is not None:
                    on_fenced()
                    return

        self._renewed = time.monotonic()
        thread = threading.Thread(target=beat, name="campaign-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
