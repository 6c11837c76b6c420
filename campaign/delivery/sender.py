"""Send one day's issue to everyone still owed it: the ledger decides, every batch is a checkpoint.

Loop (listmonk's scan → batch → workers → messenger, with a per-(issue, subscriber) ledger and a queue): at the
start, under the day's lock, expire dead workers' rows, store the day's edition (editions.py: rendered once,
every crisis variant) and enqueue the owed subscribers in one statement; then, with no lock (any number of
senders on any host, with or without the campaign folder), claim a batch of one variant (in flight, under this
worker's lease) → a thread merges each recipient into the stored edition and sends → the main thread records
sent / failed / rejected, matching (batch, worker, in flight) and checking the count.
- **Leases and fencing.** A heartbeat thread renews the lease of this worker's in-flight rows (lease.py); only
  rows whose lease expired (or whose worker on this host is dead) become unknown. A fenced worker stops at once.
- **Bounded concurrency.** At most `concurrency` batches are claimed and not yet recorded; worker threads only
  build payloads and talk to the provider, the main thread does every database write.
- **Rate limit.** A token bucket in messages per second (`campaign.rate_limit`, else the provider's default),
  shared by the threads; in the database (shared_rate.py), shared by every worker, on PostgreSQL and for
  `campaign worker`. A 429 waits as told (Retry-After, X-RateLimit-Reset) or backs off, and lowers the rate.
- **Retries.** 5xx, connection failures and 429 are retried with exponential back-off and jitter (tenacity),
  bounded; past the bound the batch is recorded failed with the reason (`--retry-failed` sends it again) and the
  send moves on; after `MAX_FAILED_BATCHES` failed batches in a row it stops and says why.
- **Bad credentials** stop the whole send at once: the claimed batches are released (back to the queue,
  so they stay owed), nothing is marked sent, and `AuthenticationFailed` names the provider and the variable.
- **Exactly once.** An answer that may or may not mean "accepted" (read timeout, dropped connection, 502/504)
  is recorded *unknown*, never resent blindly. After a crash, rows left in flight become unknown (once
  their lease expired; at once when the dead sender was on this host); `campaign
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
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime

from campaign.clock import utcnow
from campaign.config import Settings
from campaign.delivery.batches import IDEMPOTENCY_WINDOW, PAGE_SIZE, BatchSource
from campaign.delivery.checkpoint import Checkpoints
from campaign.delivery.editions import Editions
from campaign.delivery.identity import identity_for
from campaign.delivery.lease import Lease
from campaign.delivery.memory import keep_freed_memory, prompt_thread_switches
from campaign.delivery.proof import send_test_copy
from campaign.delivery.ratelimit import TokenBucket
from campaign.delivery.recipients import Recipients
from campaign.delivery.retry import Retrier, RetryPolicy
from campaign.delivery.shared_rate import SharedBucket
from campaign.delivery.values import Chunk, Job, SendReport
from campaign.errors import (
    AuthenticationFailed,
    BatchCancelled,
    LocalSendError,
    LockHeld,
    OutcomeUnknown,
    PausedError,
    StaleProject,
)
from campaign.ledger.states import FAILED, READY, UNKNOWN
from campaign.ledger.views import SenderLedger
from campaign.providers.base import Batch, Identity, Provider, Recipient, Result
from campaign.series.frozen import to_freeze
from campaign.series.project import Project

# Re-exported: callers import these from here.
__all__ = ["IDEMPOTENCY_WINDOW", "PAGE_SIZE", "RetryPolicy", "SendReport", "Sender", "identity_for"]
__all__ += ["keep_freed_memory"]

MAX_FAILED_BATCHES = 5  # failed batches in a row before the send stops
START_WAIT = 60.0  # seconds a sender waits for another one's start (expire + enqueue) before giving up


class Sender(Checkpoints):
    """Sends days through `provider`. `project` is the campaign folder as sent (None for a process without a
    folder: it can send only days already started, from their stored editions, with `settings`)."""

    def __init__(
        self,
        project: Project | None,
        store: SenderLedger,
        provider: Provider,
        *,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utcnow,
        stop: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        shared_rate: bool | None = None,
        worker_id: str | None = None,
    ):
        self.project = project
        self.settings = settings or project.settings  # type: ignore[union-attr]
        self.store = store
        self.provider = provider
        self.clock = clock
        self.stop = stop or threading.Event()
        self.progress = progress or (lambda n: None)
        self.recipients = Recipients(self.settings, provider)  # each one's name and own links
        self.editions = Editions(store, project)
        campaign = project.schedule.campaign if project is not None else None
        self.rate = rate or (campaign and campaign.rate_limit) or provider.default_rate
        self.concurrency = max(1, concurrency or (campaign and campaign.concurrency) or provider.default_concurrency)
        self.retry = retry or RetryPolicy()
        if shared_rate is None:  # several hosts may send from one PostgreSQL: one rate for all of them
            shared_rate = store.shared
        self.bucket = SharedBucket(store, f"send:{provider.name}", self.rate) if shared_rate else TokenBucket(self.rate)
        self.lease = Lease(store, self.settings.lease_seconds, worker_id)
        self.sources = BatchSource(self.editions, store, max_batch=provider.max_batch, clock=clock)
        self._abort = threading.Event()  # bad credentials or a local failure: no worker may start a request
        self._retrier = Retrier(
            self.retry, self.bucket, idempotent=provider.idempotent_batches, cancelled=self._cancelled
        )
        self._auth_error: AuthenticationFailed | None = None
        self._local_error: LocalSendError | None = None
        self._last_error: str | None = None
        self._frozen_here: set[date] = set()  # parts this sender froze from its own project (start: on_join)

    # -- helpers ------------------------------------------------------------------------------------
    def identity(self, day: date) -> Identity:
        """A started day's messages carry the headers stored with it; a test copy of a day not started, the
        folder's."""
        if self.editions.get(day) is None and self.project is not None:
            return identity_for(self.project, self.store)
        return self.editions.identity(day)

    def recipient(self, row, day: date) -> Recipient:
        return self.recipients.recipient(row, day)

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.sources.cutoff(day)

    @property
    def series_days(self) -> list[date]:
        """Every day of the series: the schedule's and any already sent (postponed parts are among them)."""
        started = set(self.store.edition_days().values())
        if self.project is None:
            return sorted(started)
        return sorted(set(self.project.schedule.dates) | set(self.project.frozen) | started)

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
        enqueue: bool = True,
    ) -> SendReport:
        """Send `day` to every active subscriber still owed it. `audience` narrows the owed set (a time-zone
        group for local-time delivery). `enqueue=False`: a worker sending a day another process enqueued."""
        report = SendReport(day, self.day_number(day), dry_run=dry_run)
        if dry_run:
            report.by_variant = self.sources.count_by_variant(day, audience)
            report.owed = sum(report.by_variant.values())
            return report
        self.check_not_paused()
        keep_freed_memory()
        if enqueue:
            self._start(day, report, audience)
        else:
            self.store.expire_leases(day)
            report.owed = self.count_owed(day)
        sources: list[Iterator[Chunk]] = []
        if retry_failed:
            sources.append(self.sources.in_state(day, FAILED))
        if self.provider.idempotent_batches:
            sources.append(self.sources.unknown_batches(day))
        if resend_unknown:
            sources.append(self.sources.in_state(day, UNKNOWN))
        sources.append(self.sources.queued(day, lambda variant, after: self._claim_queued(day, variant, after)))
        try:
            self._run(day, report, (chunk for source in sources for chunk in source))
        finally:
            waiting = self.store.waiting_on(day)
            report.unknown, report.failed_waiting = waiting.unknown, waiting.failed
        if not report.stopped and self.count_owed(day) == 0 and not report.waiting:
            self.store.finish(day)
        return report

    def day_number(self, day: date) -> int:
        return self.editions.number(day)

    def send_postponed(self, audience=None) -> list[SendReport]:
        """The parts made READY for subscribers back from their own pause (ledger/postponed.py): each day's
        READY rows, earliest day first, sent like a retry (claimed by `reclaim`, so senders never share a row).
        One report per day."""
        reports: list[SendReport] = []
        for day in self.store.ready_days(self.series_days, audience):
            if self.editions.get(day) is None and not self._start_part(day):
                continue  # never started: left READY for `campaign status` to show
            self.check_not_paused()
            report = SendReport(day, self.day_number(day))
            with self.store.lock(f"send:{day}"):
                self.store.expire_leases(day)
            report.owed = self.store.count_in_state(day, READY)
            try:
                self._run(day, report, self.sources.in_state(day, READY, audience))
            finally:
                report.unknown = self.store.count_in_state(day, UNKNOWN)
            reports.append(report)
            if report.stopped:
                break
        return reports

    def _start_part(self, day: date) -> bool:
        """start: on_join — the first reader to be given a part starts it: frozen, rendered, stored (like a
        day's send; no enqueue: each reader's part is made READY by the ledger). False: not an evergreen part."""
        if self.project is None or not self.project.schedule.campaign.on_join:
            return False
        with self.store.lock(f"send:{day}"):
            if self.editions.get(day) is None:
                self._check_as_sent()
                self._frozen_here |= {f.day for f in to_freeze(self.project, day)}  # as this project plans them
                self.editions.start(day, at=self.clock())
        return True

    def start_day(self, day: date, audience=None) -> int:
        """Only the start of a send (expire, archive, enqueue), for `send --workers`; returns how many were owed."""
        self.check_not_paused()
        report = SendReport(day, self.day_number(day))
        self._start(day, report, audience)
        return report.owed

    def _check_as_sent(self) -> None:
        """The project must be planned around every day the ledger recorded as started: no day is ever sent
        from a re-split (series/frozen.py). Callers load it so (delivery/as_sent.py); another process starting
        a day since is refused here, and the caller reloads (the scheduler: at its next try)."""
        if self.project is not None and set(self.store.frozen_days()) - set(self.project.frozen) - self._frozen_here:
            raise StaleProject(
                "days were started by another process since this one loaded the campaign; reload it "
                "(run the command again) so no day is sent from a re-split"
            )

    def _start(self, day: date, report: SendReport, audience) -> None:
        """Under the day's lock, which serialises only this start (a second sender waits a moment for it,
        then shares the queue): expire what dead senders left in flight, archive the day, enqueue it."""
        waited = 0.0
        while True:
            try:
                with self.store.lock(f"send:{day}"):
                    return self._enqueue(day, report, audience)
            except LockHeld:
                if waited >= START_WAIT or self.stop.is_set():
                    raise
                time.sleep(0.1)
                waited += 0.1

    def _enqueue(self, day: date, report: SendReport, audience) -> None:
        """Start the day: its edition is rendered (every variant, verified) and stored before the first batch,
        unless it has one; a process without the folder can only continue a day already started."""
        self.store.expire_leases(day)
        if self.editions.get(day) is None:  # it is frozen and rendered from the project now
            self._check_as_sent()
        edition = self.editions.start(day, at=self.clock())
        if edition.send.postpones:
            # the paused and those behind after a pause get this day later, in order (ledger/postponed.py)
            self.store.postpone(
                day,
                self.cutoff(day),
                days=self.series_days,
                at=self.clock(),
                audience=audience,
                from_start=edition.send.from_start,  # late joiners start at part 1
            )
        report.owed = self.count_owed(day)
        self.sources.enqueue(day, audience)

    # -- the pipeline -------------------------------------------------------------------------------
    def _run(self, day: date, report: SendReport, chunks: Iterator[Chunk]) -> None:
        self._abort.clear()
        self._retrier.retries = 0
        self._auth_error, self._local_error, self._last_error = None, None, None
        self.lease.fenced = None
        inflight: dict[Future, Job] = {}
        failed_in_row = 0
        failure: BaseException | None = None
        chunks = iter(chunks)
        with (
            prompt_thread_switches(),
            self.lease.heartbeat(self._abort.set),
            ThreadPoolExecutor(self.concurrency, "campaign-send") as pool,
        ):
            try:
                while True:  # a batch is claimed only when a thread is free to send it
                    while len(inflight) >= self.concurrency:
                        failed_in_row = self._collect(day, report, inflight, failed_in_row, block=True)
                    failed_in_row = self._collect(day, report, inflight, failed_in_row, block=False)
                    if why := self._why_stop(failed_in_row, report):
                        report.stopped = why
                        break
                    self.check_not_paused()
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
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
        if self.lease.fenced is not None:
            return f"fenced, this worker stopped: {self.lease.fenced}"
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

    def _claim_queued(self, day: date, variant: str, after: int) -> Chunk | None:
        """One batch of `variant` from the day's queue, in flight under this worker's lease."""
        batch_id = f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
        with self.lease.lock:
            rows = self.store.claim_batch(
                day,
                variant,
                limit=self.provider.max_batch,
                after_id=after,
                worker_id=self.lease.worker_id,
                batch_id=batch_id,
                provider=self.provider.name,
                lease_until=self.lease.until(),
                at=self.clock(),
            )
            if rows:
                self.lease.hold(batch_id, len(rows))
        return Chunk(variant, rows, batch_id, None, claimed=True) if rows else None

    def _claim(self, day: date, chunk: Chunk) -> Job | None:
        rows = chunk.rows
        batch_id = chunk.batch_id or f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
        if not chunk.claimed:  # ledger rows of a state (failed, unknown, …): reclaim them under our lease
            with self.lease.lock:
                claimed = self.store.reclaim(
                    day,
                    [r.id for r in rows],
                    batch_id=batch_id,
                    provider=self.provider.name,
                    from_states=[chunk.restore_to or UNKNOWN],
                    at=self.clock(),
                    worker_id=self.lease.worker_id,
                    lease_until=self.lease.until(),
                )
                if claimed:
                    self.lease.hold(batch_id, len(claimed))
            if len(claimed) != len(rows):
                wanted = set(claimed)
                rows = [r for r in rows if r.id in wanted]
        if not rows:
            return None
        try:
            issue = self.editions.issue(day, chunk.variant)
        except BaseException:
            with self.lease.lock:
                self.store.release(day, batch_id, restore_to=chunk.restore_to, worker_id=self.lease.worker_id)
                self.lease.drop(batch_id)
            raise
        return Job(batch_id, issue, rows, chunk.restore_to)

    # -- a worker thread: screening, rate limit, request, retries (no database access here) ----------
    def _cancelled(self) -> bool:
        return self._abort.is_set() or self.stop.is_set()

    def _deliver(self, day: date, job: Job) -> Sequence[Result]:
        recipients, refused = self.recipients.screen(job.rows, day)
        if not recipients:
            return refused
        batch = Batch(
            job.batch_id,
            job.issue,
            tuple(recipients),
            self.identity(day),
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
