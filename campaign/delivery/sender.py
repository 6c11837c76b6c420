"""Send one day's issue to everyone still owed it: the ledger decides, every batch is a checkpoint.

Loop (listmonk's scan → batch → workers → messenger, with a per-(issue, subscriber) ledger):
  page of owed subscribers (keyset, by id) → group by crisis variant → chunk to the provider's cap →
  claim in the ledger (in flight) → a worker sends it → the main thread records sent / failed / rejected.

- **Bounded concurrency.** At most `concurrency` batches are claimed and not yet recorded; worker threads only
  build payloads and talk to the provider, the main thread does every database write.
- **Rate limit.** A token bucket in messages per second (`campaign.rate_limit`, else the provider's default),
  shared by the workers. A 429 waits as told (Retry-After, X-RateLimit-Reset) or backs off, and lowers the rate.
- **Retries.** 5xx, connection failures and 429 are retried with exponential back-off and jitter (tenacity),
  bounded; past the bound the batch is recorded failed with the reason (`--retry-failed` sends it again) and the
  send moves on; after `MAX_FAILED_BATCHES` failed batches in a row it stops and says why.
- **Bad credentials** stop the whole send at once: the claimed batches are released (deleted from the ledger,
  so they stay owed), nothing is marked sent, and `AuthenticationFailed` names the provider and the variable.
- **Exactly once.** An answer that may or may not mean "accepted" (read timeout, dropped connection, 502/504)
  is recorded *unknown*, never resent blindly. After a crash, rows left in flight become unknown; `campaign
  status` lists them and `--resend-unknown` resends them — except with an idempotent provider (Resend), whose
  unknown batches are resent automatically, whole, under the same batch id and so the same idempotency key.
- **One bad recipient fails alone.** A recipient the provider cannot take (a non-ASCII local part without
  SMTPUTF8, a domain with no IDNA form) is recorded *rejected* with the reason before any request; the rest
  of its batch goes out.
- **A local failure** before any request (outbox not writable, disk full, an unusable provider URL or
  credential) raises `LocalSendError`: nothing left the machine, so the claims are released (owed again,
  never "unknown"), every worker stops, and the command exits 1.
- **Stopping is a flag** (SIGINT/SIGTERM): no new batch starts, batches in flight finish and are recorded,
  batches waiting in a back-off are released.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date, datetime

from campaign.clock import utcnow
from campaign.delivery.archive import archive_issue
from campaign.delivery.as_sent import frozen_days
from campaign.delivery.batches import IDEMPOTENCY_WINDOW, PAGE_SIZE, BatchSource
from campaign.delivery.identity import identity_for
from campaign.delivery.memory import keep_freed_memory
from campaign.delivery.proof import send_test_copy
from campaign.delivery.ratelimit import TokenBucket
from campaign.delivery.retry import Retrier, RetryPolicy
from campaign.delivery.tokens import Tokens
from campaign.delivery.values import Chunk, Job, SendReport
from campaign.errors import (
    AuthenticationFailed,
    BatchCancelled,
    LocalSendError,
    OutcomeUnknown,
    PausedError,
    ProviderError,
)
from campaign.ledger.addresses import clean_name
from campaign.ledger.store import FAILED, READY, REJECTED, SENT, UNKNOWN, DeliveryOutcome, Store
from campaign.providers.base import AllAccepted, Batch, Provider, Recipient, Result
from campaign.series.links import unsubscribe_url
from campaign.series.project import Project

# Re-exported: callers import these from here.
__all__ = ["IDEMPOTENCY_WINDOW", "PAGE_SIZE", "RetryPolicy", "SendReport", "Sender", "identity_for"]
__all__ += ["keep_freed_memory"]

MAX_FAILED_BATCHES = 5  # failed batches in a row before the send stops


class Sender:
    def __init__(
        self,
        project: Project,
        store: Store,
        provider: Provider,
        *,
        clock: Callable[[], datetime] = utcnow,
        stop: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.project = project
        self.store = store
        self.provider = provider
        self.clock = clock
        self.stop = stop or threading.Event()
        self.progress = progress or (lambda n: None)
        self.tokens = Tokens(project.settings.secret_key)
        self.identity = identity_for(project)
        campaign = project.schedule.campaign
        self.rate = rate or campaign.rate_limit or provider.default_rate
        self.concurrency = max(1, concurrency or campaign.concurrency or provider.default_concurrency)
        self.retry = retry or RetryPolicy()
        self.bucket = TokenBucket(self.rate)
        self.sources = BatchSource(project, store, max_batch=provider.max_batch, clock=clock)
        self._abort = threading.Event()  # bad credentials or a local failure: no worker may start a request
        self._retrier = Retrier(
            self.retry, self.bucket, idempotent=provider.idempotent_batches, cancelled=self._cancelled
        )
        self._auth_error: AuthenticationFailed | None = None
        self._local_error: LocalSendError | None = None
        self._last_error: str | None = None

    # -- helpers ------------------------------------------------------------------------------------
    def unsubscribe_link(self, subscriber_id: int) -> str:
        return unsubscribe_url(self.project.settings.public_url, self.tokens.unsubscribe(subscriber_id))

    def recipient(self, row) -> Recipient:
        try:
            name = clean_name(row.name)
        except ValueError:
            name = None
        return Recipient(row.id, row.email, name, self.unsubscribe_link(row.id))

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.sources.cutoff(day)

    @property
    def series_days(self) -> list[date]:
        """Every day of the series: the schedule's and any already sent (postponed parts are among them)."""
        return sorted(set(self.project.schedule.dates) | set(self.project.frozen))

    def check_not_paused(self) -> None:
        pause = self.store.get_state("pause")
        if pause:
            raise PausedError(
                f"the series is paused since {pause.get('since')} ({pause.get('reason')}); "
                "nothing is sent until `campaign resume`"
            )

    def count_owed(self, day: date) -> int:
        return self.store.count_owed(day, self.cutoff(day), at=self.clock())

    # -- the send -----------------------------------------------------------------------------------
    def send_day(
        self,
        day: date,
        *,
        dry_run: bool = False,
        retry_failed: bool = False,
        resend_unknown: bool = False,
        audience=None,
    ) -> SendReport:
        """Send `day` to every active subscriber still owed it. `audience` narrows the owed set (an extra
        SQLAlchemy condition on subscribers, e.g. a time-zone group for local-time delivery)."""
        project = self.project
        report = SendReport(day, project.schedule.day_number(day), dry_run=dry_run)
        if dry_run:
            report.by_variant = self.sources.count_by_variant(day, audience)
            report.owed = sum(report.by_variant.values())
            return report
        self.check_not_paused()
        keep_freed_memory()
        with self.store.lock(f"send:{day}"):
            self._prepare(day, report)
            if self.project.schedule.campaign.personal_pause == "postpone":
                # the paused and those behind after a pause get this day later, in order (ledger/postponed.py)
                self.store.postpone(day, self.cutoff(day), days=self.series_days, at=self.clock(), audience=audience)
            report.owed = self.count_owed(day)
            sources: list[Iterator[Chunk]] = []
            if retry_failed:
                sources.append(self.sources.in_state(day, FAILED))
            if self.provider.idempotent_batches:
                sources.append(self.sources.unknown_batches(day))
            if resend_unknown:
                sources.append(self.sources.in_state(day, UNKNOWN))
            sources.append(self.sources.owed(day, audience))
            try:
                self._run(day, report, (chunk for source in sources for chunk in source))
            finally:
                report.unknown = self.store.count_in_state(day, UNKNOWN)
        if not report.stopped and self.count_owed(day) == 0:
            self.store.set_issue_state(day, "sent")
        return report

    def send_postponed(self, audience=None) -> list[SendReport]:
        """The parts made READY for subscribers back from their own pause (ledger/postponed.py): each day's
        READY rows, earliest day first, sent like a retry. One report per day."""
        reports: list[SendReport] = []
        for day in self.store.ready_days(self.series_days, audience):
            if day not in self.project.schedule.days:
                continue  # not a day of the series in force: left READY for `campaign status` to show
            self.check_not_paused()
            report = SendReport(day, self.project.schedule.day_number(day))
            with self.store.lock(f"send:{day}"):
                self._prepare(day, report)
                report.owed = self.store.count_in_state(day, READY)
                try:
                    self._run(day, report, self.sources.in_state(day, READY, audience))
                finally:
                    report.unknown = self.store.count_in_state(day, UNKNOWN)
            reports.append(report)
            if report.stopped:
                break
        return reports

    def _prepare(self, day: date, report: SendReport) -> None:
        """Under the day's send lock: settle what a dead sender left, freeze and archive the day, and render
        it once so a broken template fails before the first batch."""
        # Anything still in flight for this day belongs to a sender that died (we hold the lock now).
        self.store.mark_inflight_unknown(day)
        recorded = frozen_days(self.store)
        if set(recorded) - set(self.project.frozen):
            # days went out since this project was loaded: plan its inputs around what the ledger recorded,
            # so no day is ever sent from a re-split (series/frozen.py)
            self.project = self.project.with_frozen(recorded)
        project = self.project
        project.render(day, project.default_variant)
        archive_issue(project, self.store, day, number=report.number, at=self.clock())

    # -- the pipeline -------------------------------------------------------------------------------
    def _run(self, day: date, report: SendReport, chunks: Iterator[Chunk]) -> None:
        self._abort.clear()
        self._retrier.retries = 0
        self._auth_error, self._local_error, self._last_error = None, None, None
        inflight: dict[Future, Job] = {}
        failed_in_row = 0
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="campaign-send") as pool:
            try:
                for chunk in chunks:
                    while len(inflight) >= self.concurrency:
                        failed_in_row = self._collect(day, report, inflight, failed_in_row, block=True)
                    failed_in_row = self._collect(day, report, inflight, failed_in_row, block=False)
                    if why := self._why_stop(failed_in_row, report):
                        report.stopped = why
                        break
                    self.check_not_paused()
                    job = self._claim(day, chunk)
                    if job is not None:
                        inflight[pool.submit(self._deliver, day, job)] = job
            except BaseException as err:  # PausedError, a database error, KeyboardInterrupt: drain first
                failure = err
                self._abort.set()
            while inflight:
                failed_in_row = self._collect(day, report, inflight, failed_in_row, block=True)
        report.retries += self._retrier.retries
        if failure is not None:
            raise failure
        if self._auth_error is not None:
            raise self._auth_error
        if self._local_error is not None:
            raise self._local_error
        if not report.stopped and (why := self._why_stop(failed_in_row, report)):
            report.stopped = why

    def _why_stop(self, failed_in_row: int, report: SendReport) -> str | None:
        if self._auth_error is not None:
            return str(self._auth_error)
        if self._local_error is not None:
            return str(self._local_error)
        if self.stop.is_set():
            return "stopped by signal"
        if failed_in_row >= MAX_FAILED_BATCHES:
            return (
                f"{failed_in_row} batches in a row failed (last: {self._last_error}); check the provider's "
                f"status and settings, then `campaign send {report.day} --retry-failed`"
            )
        return None

    def _claim(self, day: date, chunk: Chunk) -> Job | None:
        rows = chunk.rows
        ids = [r.id for r in rows]
        at = self.clock()
        if chunk.restore_to is None:
            batch_id = f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
            claimed = self.store.claim(day, ids, batch_id=batch_id, provider=self.provider.name, at=at)
        else:
            batch_id = chunk.batch_id or f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
            claimed = self.store.reclaim(
                day, ids, batch_id=batch_id, provider=self.provider.name, from_states=[chunk.restore_to], at=at
            )
        if len(claimed) != len(rows):
            wanted = set(claimed)
            rows = [r for r in rows if r.id in wanted]
        if not rows:
            return None
        return Job(batch_id, self.project.render(day, chunk.variant), rows, chunk.restore_to)

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
                self.store.release(day, job.batch_id, restore_to=job.restore_to)
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
        self.store.record_batch(day, job.batch_id, groups, at=self.clock())
        for r in results:
            if r.suppress:
                self.store.suppress(r.subscriber_id, "bounced", r.error or "suppressed by the provider")
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
        self.store.record(day, outcomes, at=self.clock())
        report.sent += sum(1 for o in outcomes if o.status == SENT)
        report.rejected += sum(1 for o in outcomes if o.status == REJECTED)
        self.progress(len(outcomes))

    def _record_all(self, day: date, report: SendReport, job: Job, status: str, error: str) -> None:
        self.store.record_batch(day, job.batch_id, {(status, None, error): [r.id for r in job.rows]}, at=self.clock())
        report.batches += 1
        if status == FAILED:
            report.failed += len(job.rows)
        self.progress(len(job.rows))

    # -- a worker thread: screening, rate limit, request, retries (no database access here) ----------
    def _cancelled(self) -> bool:
        return self._abort.is_set() or self.stop.is_set()

    def _screen(self, rows: list) -> tuple[list[Recipient], list[Result]]:
        """Recipients the provider can take, and a rejection for each one it cannot (one bad address never
        fails its batch): nothing about them is sent, so they are `rejected` with the reason."""
        ok: list[Recipient] = []
        refused: list[Result] = []
        for row in rows:
            recipient = self.recipient(row)
            why = self.provider.refusal(recipient)
            if why is None:
                ok.append(recipient)
            else:
                refused.append(Result(row.id, False, error=f"not sent: {why}", permanent=True))
        return ok, refused

    def _deliver(self, day: date, job: Job) -> Sequence[Result]:
        recipients, refused = self._screen(job.rows)
        if not recipients:
            return refused
        batch = Batch(
            job.batch_id,
            job.issue,
            tuple(recipients),
            self.identity,
            sent_at=self.clock(),
            metadata={"issue": day.isoformat()},
        )
        for attempt in self._retrier.loop():
            with attempt:
                if self._cancelled():
                    raise BatchCancelled()
                self.bucket.acquire(len(batch.recipients), cancelled=self._cancelled)
                if self._cancelled():
                    raise BatchCancelled()
                try:
                    results = self.provider.send_batch(batch)
                except OutcomeUnknown:
                    job.maybe_sent = True
                    raise
                except LocalSendError:
                    self._abort.set()  # this machine cannot send: no other worker starts a request
                    raise
                self.bucket.speed_up()
                return list(results) + refused if refused else results
        raise AssertionError("unreachable: tenacity re-raises the last error")

    # -- test sends ---------------------------------------------------------------------------------
    def send_test(self, day: date, email: str, *, country: str | None = None) -> Result:
        """One copy of `day` to `email`, marked [Test]; the ledger is not touched."""
        return send_test_copy(self, day, email, country=country)
