"""The sender's value types: the report of one day's send, and one claimed batch on its way to a worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from campaign.series.parts import is_part_key, label

if TYPE_CHECKING:
    from campaign.series.render import RenderedIssue


@dataclass
class SendReport:
    day: date
    number: int
    owed: int = 0  # owed when the send started
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    unknown: int = 0  # deliveries whose outcome is unknown (interrupted runs, ambiguous answers)
    failed_waiting: int = 0  # the day's failed deliveries (this run's and earlier runs') waiting for --retry-failed
    batches: int = 0
    retries: int = 0  # requests repeated after a 429, a 5xx or a connection failure
    by_variant: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    stopped: str | None = None  # why the send stopped early, if it did
    workers: int = 1  # sender processes (`send --workers N`: this report is read back from the ledger)

    def summary(self) -> str:
        if self.dry_run:
            variants = ", ".join(f"{v}: {n}" for v, n in sorted(self.by_variant.items())) or "none"
            return (
                f"dry run: day {self.number} ({self.day}) would go to {self.owed} subscriber(s) "
                f"[{variants}]; nothing was written"
            )
        what = label(self.day) if is_part_key(self.day) else f"day {self.number} ({self.day})"
        text = f"{what}: sent {self.sent}, failed {self.failed}, rejected {self.rejected}" + (
            f" by {self.workers} workers" if self.workers > 1 else f" in {self.batches} batch(es)"
        )
        if self.retries:
            text += f" ({self.retries} request(s) retried)"
        if self.failed_waiting:
            text += (
                f"; {self.failed_waiting} failed delivery(ies) waiting — retry with "
                f"`campaign send {self.day} --retry-failed`"
            )
        if self.unknown:
            text += (
                f"; {self.unknown} delivery(ies) unknown (may or may not have gone out) — see `campaign status`,"
                f" resend with `campaign send {self.day} --resend-unknown`"
            )
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text

    @property
    def waiting(self) -> bool:
        """Deliveries of the day wait for an operator (the day is not complete; the command exits non-zero)."""
        return bool(self.failed_waiting or self.unknown)


@dataclass(frozen=True)
class Chunk:
    """Subscribers to send as one batch: fresh (restore_to None) or reclaimed from a ledger state."""

    variant: str
    rows: list
    batch_id: str | None  # set when an unknown batch is resent whole under its own id
    restore_to: str | None  # where released rows go: None = back to the queue (owed again), or their former state
    claimed: bool = False  # already claimed from the queue (BatchSource.queued): the sender only sends it


@dataclass
class Job:
    """One claimed batch on its way through a worker."""

    batch_id: str
    issue: RenderedIssue  # the rendered variant (rendered in the main thread, once per variant)
    rows: list
    restore_to: str | None
    maybe_sent: bool = False  # an earlier attempt may have been accepted: never release, record unknown
