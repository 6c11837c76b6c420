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
- **Stopping is a flag** (SIGINT/SIGTERM): no new batch starts, batches in flight finish and are recorded,
  batches waiting in a back-off are released.
"""

from __future__ import annotations

import ctypes
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from campaign.clock import utcnow
from campaign.delivery.ratelimit import TokenBucket
from campaign.delivery.tokens import Tokens
from campaign.errors import (
    AuthenticationFailed,
    OutcomeUnknown,
    PausedError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from campaign.ledger.store import FAILED, REJECTED, SENT, UNKNOWN, Store
from campaign.providers.base import Batch, Identity, Provider, Recipient, Result
from campaign.series.links import unsubscribe_url
from campaign.series.plan import slug
from campaign.series.project import Project

PAGE_SIZE = 2000
MAX_FAILED_BATCHES = 5  # failed batches in a row before the send stops
IDEMPOTENCY_WINDOW = timedelta(hours=23)  # Resend remembers a key 24 h: resend automatically only within it


@dataclass
class SendReport:
    day: date
    number: int
    owed: int = 0  # owed when the send started
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    unknown: int = 0  # deliveries whose outcome is unknown (interrupted runs, ambiguous answers)
    batches: int = 0
    retries: int = 0  # requests repeated after a 429, a 5xx or a connection failure
    by_variant: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    stopped: str | None = None  # why the send stopped early, if it did

    def summary(self) -> str:
        if self.dry_run:
            variants = ", ".join(f"{v}: {n}" for v, n in sorted(self.by_variant.items())) or "none"
            return (
                f"dry run: day {self.number} ({self.day}) would go to {self.owed} subscriber(s) "
                f"[{variants}]; nothing was written"
            )
        text = (
            f"day {self.number} ({self.day}): sent {self.sent}, failed {self.failed}, rejected {self.rejected}"
            f" in {self.batches} batch(es)"
        )
        if self.retries:
            text += f" ({self.retries} request(s) retried)"
        if self.unknown:
            text += (
                f"; {self.unknown} delivery(ies) unknown (may or may not have gone out) — see `campaign status`,"
                f" resend with `campaign send {self.day} --resend-unknown`"
            )
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # requests per batch, the first included
    initial: float = 0.5  # first back-off in seconds; doubles each time, plus up to `initial` of jitter
    maximum: float = 30.0  # longest single back-off
    max_retry_after: float = 300.0  # a 429 asking for a longer wait fails the batch instead of blocking the send


@dataclass
class _Job:
    """One claimed batch on its way through a worker."""

    batch_id: str
    issue: object  # the rendered variant (rendered in the main thread, once per variant)
    rows: list
    restore_to: str | None  # where released rows go: None = deleted (owed again), or their former state
    maybe_sent: bool = False  # an earlier attempt may have been accepted: never release, record unknown


class _Cancelled(Exception):
    """The send is stopping and this batch's request was never started."""


def identity_for(project: Project) -> Identity:
    c = project.schedule.campaign
    from_domain = c.from_.rpartition("@")[2].rstrip(">").strip() or "localhost"
    return Identity(
        from_=c.from_,
        reply_to=c.reply_to,
        list_id=f"<{slug(c.name) or 'campaign'}.{from_domain}>",
        message_stream=c.message_stream,
    )


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS after every batch.

    A Postmark batch is ~10 MB of message strings, built and freed per request. By default glibc hands such
    blocks back to the kernel (mmap/trim), so every batch pays page faults on fresh memory again; measured on
    a 2-core VM that was half of the per-recipient cost. Peak memory is unchanged (it is bounded by the
    batches in flight); it is just not given back between batches. No-op where glibc is not the allocator.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD: keep up to 256 MB of freed heap
        libc.mallopt(-3, 64 * 1024 * 1024)  # M_MMAP_THRESHOLD: serve blocks < 64 MB from the heap
    except (OSError, AttributeError):
        pass


_ALLOCATOR_TUNED = False


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
        self._abort = threading.Event()  # bad credentials: no worker may start another request
        self._lock = threading.Lock()
        self._retries = 0
        self._auth_error: AuthenticationFailed | None = None
        self._last_error: str | None = None

    # -- helpers ------------------------------------------------------------------------------------
    def unsubscribe_link(self, subscriber_id: int) -> str:
        return unsubscribe_url(self.project.settings.public_url, self.tokens.unsubscribe(subscriber_id))

    def recipient(self, row) -> Recipient:
        return Recipient(row.id, row.email, row.name, self.unsubscribe_link(row.id))

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.project.schedule.send_at(day)

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
            return self._dry_run(day, report, audience)
        self.check_not_paused()
        keep_freed_memory()
        with self.store.lock(f"send:{day}"):
            # Anything still in flight for this day belongs to a sender that died (we hold the lock now).
            self.store.mark_inflight_unknown(day)
            project.render(day, project.default_variant)  # fail before the first batch on a broken template
            entry = project.schedule.days[day]
            self.store.save_issue(
                day,
                number=report.number,
                subject=entry.subject,
                web_html=project.render(day, web=True).html,
                at=self.clock(),
            )
            report.owed = self.count_owed(day)
            chunks = []
            if retry_failed:
                chunks.append(self._state_chunks(day, FAILED))
            if self.provider.idempotent_batches:
                chunks.append(self._unknown_batches(day))
            if resend_unknown:
                chunks.append(self._state_chunks(day, UNKNOWN))
            chunks.append(self._owed_chunks(day, audience))
            self._run(day, report, (chunk for source in chunks for chunk in source))
            report.unknown = self.store.count_in_state(day, UNKNOWN)
        if not report.stopped and self.count_owed(day) == 0:
            self.store.set_issue_state(day, "sent")
        return report

    def _dry_run(self, day: date, report: SendReport, audience) -> SendReport:
        for rows in self._pages(
            lambda after: self.store.owed_page(
                day, self.cutoff(day), after_id=after, limit=PAGE_SIZE, at=self.clock(), extra_where=audience
            )
        ):
            for row in rows:
                variant = self.project.variant_for(row.country)
                report.by_variant[variant] = report.by_variant.get(variant, 0) + 1
                report.owed += 1
        return report

    # -- where batches come from: (variant, rows, batch_id, restore_to) -----------------------------------
    @staticmethod
    def _pages(read: Callable[[int], list]) -> Iterator[list]:
        after = 0
        while rows := read(after):
            yield rows
            after = rows[-1].id

    def _chunked(self, pages: Iterator[list], restore_to: str | None) -> Iterator[tuple]:
        """Fill each variant's batch across pages, so a small country still gets full batches."""
        pending: dict[str, list] = defaultdict(list)
        variants: dict[str | None, str] = {}
        for rows in pages:
            for row in rows:
                variant = variants.get(row.country)
                if variant is None:
                    variant = variants[row.country] = self.project.variant_for(row.country)
                group = pending[variant]
                group.append(row)
                if len(group) >= self.provider.max_batch:
                    yield variant, pending.pop(variant), None, restore_to
        for variant in sorted(pending):
            yield variant, pending[variant], None, restore_to

    def _owed_chunks(self, day: date, audience) -> Iterator[tuple]:
        return self._chunked(
            self._pages(
                lambda after: self.store.owed_page(
                    day, self.cutoff(day), after_id=after, limit=PAGE_SIZE, at=self.clock(), extra_where=audience
                )
            ),
            None,
        )

    def _state_chunks(self, day: date, state: str) -> Iterator[tuple]:
        return self._chunked(
            self._pages(lambda after: self.store.rows_in_state(day, state, after_id=after, limit=PAGE_SIZE)), state
        )

    def _unknown_batches(self, day: date) -> Iterator[tuple]:
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
                yield variants.pop(), members, batch_id, UNKNOWN

    # -- the pipeline -------------------------------------------------------------------------------
    def _run(self, day: date, report: SendReport, chunks: Iterator[tuple]) -> None:
        self._abort.clear()
        self._retries, self._auth_error, self._last_error = 0, None, None
        inflight: dict[Future, _Job] = {}
        failed_in_row = 0
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="campaign-send") as pool:
            try:
                for variant, rows, batch_id, restore_to in chunks:
                    while len(inflight) >= self.concurrency:
                        failed_in_row = self._collect(day, report, inflight, failed_in_row, block=True)
                    failed_in_row = self._collect(day, report, inflight, failed_in_row, block=False)
                    if why := self._why_stop(failed_in_row, report):
                        report.stopped = why
                        break
                    self.check_not_paused()
                    job = self._claim(day, variant, rows, batch_id, restore_to)
                    if job is not None:
                        inflight[pool.submit(self._deliver, day, job)] = job
            except BaseException as err:  # PausedError, a database error, KeyboardInterrupt: drain first
                failure = err
                self._abort.set()
            while inflight:
                failed_in_row = self._collect(day, report, inflight, failed_in_row, block=True)
        report.retries += self._retries
        if failure is not None:
            raise failure
        if self._auth_error is not None:
            raise self._auth_error
        if not report.stopped and (why := self._why_stop(failed_in_row, report)):
            report.stopped = why

    def _why_stop(self, failed_in_row: int, report: SendReport) -> str | None:
        if self._auth_error is not None:
            return str(self._auth_error)
        if self.stop.is_set():
            return "stopped by signal"
        if failed_in_row >= MAX_FAILED_BATCHES:
            return (
                f"{failed_in_row} batches in a row failed (last: {self._last_error}); check the provider's "
                f"status and settings, then `campaign send {report.day} --retry-failed`"
            )
        return None

    def _claim(self, day: date, variant: str, rows: list, batch_id: str | None, restore_to: str | None) -> _Job | None:
        ids = [r.id for r in rows]
        at = self.clock()
        if restore_to is None:
            batch_id = f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
            claimed = self.store.claim(day, ids, batch_id=batch_id, provider=self.provider.name, at=at)
        else:
            batch_id = batch_id or f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
            claimed = self.store.reclaim(
                day, ids, batch_id=batch_id, provider=self.provider.name, from_states=[restore_to], at=at
            )
        if len(claimed) != len(rows):
            wanted = set(claimed)
            rows = [r for r in rows if r.id in wanted]
        return _Job(batch_id, self.project.render(day, variant), rows, restore_to) if rows else None

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

    def _record(self, day: date, report: SendReport, job: _Job, future: Future) -> bool:
        """Checkpoint one batch; True when at least one delivery was accepted or rejected for good."""
        try:
            results: list[Result] = future.result()
        except (_Cancelled, AuthenticationFailed) as err:
            if isinstance(err, AuthenticationFailed) and self._auth_error is None:
                self._auth_error = err
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
        groups: dict[tuple, list[int]] = defaultdict(list)
        anything_went = False
        if getattr(results, "all_accepted", False):  # one answer for the whole request (SendGrid, Mailgun)
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
        if missing := [r.id for r in job.rows if r.id not in answered]:  # a provider bug: do not guess
            groups[(UNKNOWN, None, f"{self.provider.name} returned no result for this delivery")].extend(missing)
        self.store.record_batch(day, job.batch_id, groups, at=self.clock())
        for r in results:
            if r.suppress:
                self.store.set_status(
                    r.subscriber_id, "bounced", r.error or "suppressed by the provider", only_if_active=True
                )
        report.batches += 1
        self.progress(len(job.rows))
        return anything_went

    def _record_all(self, day: date, report: SendReport, job: _Job, status: str, error: str) -> None:
        self.store.record_batch(day, job.batch_id, {(status, None, error): [r.id for r in job.rows]}, at=self.clock())
        report.batches += 1
        if status == FAILED:
            report.failed += len(job.rows)
        self.progress(len(job.rows))

    # -- a worker thread: rate limit, request, retries (no database access here) ---------------------
    def _cancelled(self) -> bool:
        return self._abort.is_set() or self.stop.is_set()

    def _deliver(self, day: date, job: _Job) -> list[Result]:
        batch = Batch(
            job.batch_id,
            job.issue,
            tuple(self.recipient(r) for r in job.rows),
            self.identity,
            sent_at=self.clock(),
            metadata={"issue": day.isoformat()},
        )
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._backoff,
            retry=retry_if_exception(self._retryable),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if self._cancelled():
                    raise _Cancelled()
                self.bucket.acquire(len(batch.recipients), cancelled=self._cancelled)
                if self._cancelled():
                    raise _Cancelled()
                try:
                    results = self.provider.send_batch(batch)
                except OutcomeUnknown:
                    job.maybe_sent = True
                    raise
                self.bucket.speed_up()
                return results
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _retryable(self, err: BaseException) -> bool:
        if isinstance(err, RateLimited):
            return err.retry_after is None or err.retry_after <= self.retry.max_retry_after
        if isinstance(err, OutcomeUnknown):  # the provider de-duplicates: a repeat is safe
            return self.provider.idempotent_batches and not getattr(err, "final", False)
        return isinstance(err, TransientProviderError)

    def _backoff(self, state) -> float:
        err = state.outcome.exception()
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return err.retry_after + random.uniform(0, 0.1 * max(err.retry_after, 1.0))
        return wait_exponential_jitter(
            multiplier=self.retry.initial, max=self.retry.maximum, jitter=self.retry.initial
        )(state)

    def _before_retry(self, state) -> None:
        err = state.outcome.exception()
        with self._lock:
            self._retries += 1
        if isinstance(err, RateLimited):
            self.bucket.slow_down()
            if err.retry_after is not None:
                self.bucket.hold(err.retry_after)  # the limit is the account's: every worker waits

    def _sleep(self, seconds: float) -> None:
        """Back-off that a stop cuts short (the next attempt then sees the flag and gives the batch back)."""
        deadline = time.monotonic() + seconds
        while not self._cancelled() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    # -- test sends ---------------------------------------------------------------------------------
    def send_test(self, day: date, email: str, *, country: str | None = None) -> Result:
        """One copy of `day` to `email`, marked [Test]; the ledger is not touched."""
        existing = self.store.subscriber_by_email(email)
        subscriber_id = existing.id if existing else 0
        name = existing.name if existing else None
        variant = self.project.variant_for(country or (existing.country if existing else None))
        issue = self.project.render(day, variant)
        batch = Batch(
            f"test-{uuid.uuid4().hex[:12]}",
            issue,
            (Recipient(subscriber_id, email, name, self.unsubscribe_link(subscriber_id)),),
            self.identity,
            sent_at=self.clock(),
            subject_prefix="[Test] ",
        )
        return self.provider.send_batch(batch)[0]
