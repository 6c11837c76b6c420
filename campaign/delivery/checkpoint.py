"""Checkpoints: the sender's main thread records each finished batch in the ledger (a mixin of `Sender`).

Every write matches (day, batch, this worker, in flight) and its row count is checked: a batch that
changed fewer rows than it held was taken from this worker (its lease expired), which fences it.
All writes happen under `lease.lock`, so the heartbeat's count of rows held stays true.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import date, datetime

from campaign.delivery.lease import Lease
from campaign.delivery.values import Job, SendReport
from campaign.errors import AuthenticationFailed, BatchCancelled, LocalSendError, OutcomeUnknown, ProviderError
from campaign.ledger.deliveries import DeliveryOutcome
from campaign.ledger.states import BOUNCED, FAILED, REJECTED, SENT, UNKNOWN
from campaign.ledger.views import SenderLedger
from campaign.providers.base import AllAccepted, Provider, Result


class Checkpoints:
    store: SenderLedger
    provider: Provider
    lease: Lease
    clock: Callable[[], datetime]
    progress: Callable[[int], None]
    _abort: threading.Event
    _auth_error: AuthenticationFailed | None
    _local_error: LocalSendError | None
    _last_error: str | None

    def _collect(self, day: date, report: SendReport, inflight: dict, failed_in_row: int, *, block: bool) -> int:
        """Record every finished batch (main thread: all database writes happen here)."""
        if not inflight:
            return failed_in_row
        done, _ = wait(list(inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            job = inflight.pop(future)
            ok = self._record(day, report, job, future)
            failed_in_row = 0 if ok else failed_in_row + 1
        return failed_in_row

    def _record(self, day: date, report: SendReport, job: Job, future: Future) -> bool:
        """Checkpoint one batch; True when at least one delivery was accepted or rejected for good."""
        with self.lease.lock:
            try:
                return self._checkpoint(day, report, job, future)
            finally:
                self.lease.drop(job.batch_id)

    def _checkpoint(self, day: date, report: SendReport, job: Job, future: Future) -> bool:
        try:
            results = future.result()
        except (BatchCancelled, AuthenticationFailed, LocalSendError) as err:
            if isinstance(err, AuthenticationFailed) and self._auth_error is None:
                self._auth_error = err
            if isinstance(err, LocalSendError):
                self._local_error = self._local_error or err
                if err.done:  # written before the failure (the outbox): those went out, the rest is released
                    self._record_done(day, report, err.done)
            if job.maybe_sent:
                self._record_all(day, report, job, UNKNOWN, "send stopped after an unanswered attempt")
            else:
                self.store.release(day, job.batch_id, restore_to=job.restore_to, worker_id=self.lease.worker_id)
            return True
        except OutcomeUnknown as err:
            self._last_error = str(err)
            self._record_all(day, report, job, UNKNOWN, str(err))
            return False
        except ProviderError as err:
            self._last_error = str(err)
            self._record_all(day, report, job, FAILED, str(err))
            return False
        except BaseException as err:  # a bug: we cannot know whether it went out; stop the send
            self._abort.set()
            self._record_all(day, report, job, UNKNOWN, f"sender error: {err!r}")
            raise
        return self._record_results(day, report, job, results)

    def _record_results(self, day: date, report: SendReport, job: Job, results) -> bool:
        groups: dict[tuple, list[int]] = defaultdict(list)
        anything_went = False
        if isinstance(results, AllAccepted):  # one answer for the whole request (SendGrid, Mailgun)
            groups[(SENT, results.message_id, None)] = results.subscriber_ids
            report.sent += len(results)
            anything_went = True
            results = ()
        for r in results:
            if r.unknown:
                status = UNKNOWN
            elif r.ok:
                status = SENT
                report.sent += 1
                anything_went = True
            elif r.permanent:
                status = REJECTED
                report.rejected += 1
                anything_went = True
            else:
                status = FAILED
                report.failed += 1
                self._last_error = r.error
            groups[(status, r.message_id, r.error)].append(r.subscriber_id)
        answered = {i for ids in groups.values() for i in ids}
        missing = [r.id for r in job.rows if r.id not in answered]
        if missing:  # a provider bug: do not guess
            groups[(UNKNOWN, None, f"{self.provider.name} returned no result for this delivery")].extend(missing)
        changed = self.store.record_batch(day, job.batch_id, groups, worker_id=self.lease.worker_id, at=self.clock())
        self.lease.check(job.batch_id, len(job.rows), changed)
        for r in results:
            if r.suppress:
                self.store.suppress(r.subscriber_id, BOUNCED, r.error or "suppressed by the provider")
        report.batches += 1
        self.progress(len(job.rows))
        return anything_went

    def _record_done(self, day: date, report: SendReport, done: list[Result]) -> None:
        """Part of a batch completed before a local failure: record those rows only (one by one)."""
        outcomes = [
            DeliveryOutcome(r.subscriber_id, SENT if r.ok else REJECTED, r.message_id, r.error)
            for r in done
            if r.ok or r.permanent
        ]
        self.store.record(day, outcomes, at=self.clock(), worker_id=self.lease.worker_id)
        report.sent += sum(1 for o in outcomes if o.status == SENT)
        report.rejected += sum(1 for o in outcomes if o.status == REJECTED)
        self.progress(len(outcomes))

    def _record_all(self, day: date, report: SendReport, job: Job, status: str, error: str) -> None:
        ids = [r.id for r in job.rows]
        changed = self.store.record_batch(
            day, job.batch_id, {(status, None, error): ids}, worker_id=self.lease.worker_id, at=self.clock()
        )
        self.lease.check(job.batch_id, len(ids), changed)
        report.batches += 1
        if status == FAILED:
            report.failed += len(job.rows)
        self.progress(len(job.rows))
