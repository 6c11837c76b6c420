"""What the scheduler knows about each slot in this process: one map from slot key to its run.

    IDLE ──sync()──▶ SCHEDULED ──job fires──▶ RUNNING ──done──▶ FINISHED (sent, missed or skipped)
      ▲                  │ removed (an edit)      │ retry (a 429, a failure, an invalid edit)
      └──────────────────┴────────────────────────┘  retry_at: when to try again (None: after the next valid edit)

A slot whose send time passed outside the grace window, or fell inside a pause, goes straight to FINISHED.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from campaign.timing.slots import Slot


class Phase(StrEnum):
    IDLE = "idle"  # known, no job in APScheduler
    SCHEDULED = "scheduled"  # a job in APScheduler
    RUNNING = "running"  # being sent now (one at a time)
    FINISHED = "finished"  # sent, missed or skipped in this process


@dataclass
class SlotRun:
    slot: Slot
    phase: Phase = Phase.IDLE
    attempted: bool = False  # scheduled before: a later job runs at once (max of its time and now)
    retrying: bool = False  # waiting to be tried again
    retry_at: datetime | None = None  # while retrying: when (None: after the next valid edit of the inputs)
    failures: int = 0  # unexpected errors in a row (for the back-off)

    def waiting_until(self, now: datetime) -> bool:
        """Still waiting to be retried at `now`."""
        return self.retrying and (self.retry_at is None or self.retry_at > now)

    def retry_due(self) -> bool:
        return self.retrying and self.retry_at is not None and self.phase != Phase.FINISHED


class SlotRuns:
    def __init__(self) -> None:
        self._runs: dict[str, SlotRun] = {}

    def get(self, key: str) -> SlotRun | None:
        return self._runs.get(key)

    def of(self, slot: Slot) -> SlotRun:
        run = self._runs.get(slot.key)
        if run is None:
            run = self._runs[slot.key] = SlotRun(slot)
        run.slot = slot  # an edit may have moved it
        return run

    def in_phase(self, phase: Phase) -> Iterator[SlotRun]:
        return (r for r in self._runs.values() if r.phase == phase)

    def count(self, phase: Phase) -> int:
        return sum(1 for _ in self.in_phase(phase))

    @property
    def running(self) -> SlotRun | None:
        return next(self.in_phase(Phase.RUNNING), None)

    def finish(self, slot: Slot) -> None:
        run = self.of(slot)
        run.phase, run.retrying, run.failures = Phase.FINISHED, False, 0

    def drop_retries_on_edit(self) -> None:
        """A valid edit arrived: slots waiting for one are due again."""
        for run in self._runs.values():
            if run.retrying and run.retry_at is None:
                run.retrying = False
