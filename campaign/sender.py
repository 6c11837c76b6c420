"""Send one day's issue to everyone still owed it: the ledger decides, every batch is a checkpoint.

Loop (listmonk's scan → batch → messenger, with a per-(issue, subscriber) ledger):
  page of owed subscribers (keyset, by id) → group by crisis variant → chunk to the provider's cap →
  claim in the ledger (in flight) → provider.send_batch → record sent / failed / rejected.

A crash leaves at most the batches in flight; the next run marks them unknown and sends everyone else
still owed. Stopping is a flag checked between batches (SIGINT/SIGTERM set it).
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from .errors import PausedError
from .project import Project
from .providers.base import Batch, Identity, Provider, Recipient, Result
from .plan import slug
from .store import ACTIVE, FAILED, REJECTED, SENT, UNKNOWN, DeliveryOutcome, Store, utcnow
from .tokens import Tokens, unsubscribe_url

PAGE_SIZE = 2000


@dataclass
class SendReport:
    day: date
    number: int
    owed: int = 0                 # owed when the send started
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    unknown: int = 0              # rows found in flight from a previous, interrupted run
    batches: int = 0
    by_variant: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    stopped: str | None = None    # why the send stopped early, if it did

    def summary(self) -> str:
        if self.dry_run:
            variants = ", ".join(f"{v}: {n}" for v, n in sorted(self.by_variant.items())) or "none"
            return (f"dry run: day {self.number} ({self.day}) would go to {self.owed} subscriber(s) "
                    f"[{variants}]; nothing was written")
        text = (f"day {self.number} ({self.day}): sent {self.sent}, failed {self.failed}, rejected {self.rejected}"
                f" in {self.batches} batch(es)")
        if self.unknown:
            text += (f"; {self.unknown} delivery(ies) unknown from an interrupted run — see `campaign status`, "
                     f"resend with `campaign send {self.day} --resend-unknown`")
        return text


def identity_for(project: Project) -> Identity:
    c = project.schedule.campaign
    from_domain = c.from_.rpartition("@")[2].rstrip(">").strip() or "localhost"
    return Identity(from_=c.from_, reply_to=c.reply_to, list_id=f"<{slug(c.name) or 'campaign'}.{from_domain}>",
                    message_stream=c.message_stream)


class Sender:
    def __init__(self, project: Project, store: Store, provider: Provider, *,
                 clock: Callable[[], datetime] = utcnow, stop: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None):
        self.project = project
        self.store = store
        self.provider = provider
        self.clock = clock
        self.stop = stop or threading.Event()
        self.progress = progress or (lambda n: None)
        self.tokens = Tokens(project.settings.secret_key)
        self.identity = identity_for(project)

    # -- helpers ------------------------------------------------------------------------------------
    def recipient(self, row) -> Recipient:
        url = unsubscribe_url(self.project.settings.public_url, self.tokens.unsubscribe(row.id))
        return Recipient(row.id, row.email, row.name, url)

    def cutoff(self, day: date) -> datetime:
        """Subscribers who joined before the day's send time are owed it (late joiners start later)."""
        return self.project.schedule.send_at(day)

    def check_not_paused(self) -> None:
        pause = self.store.get_state("pause")
        if pause:
            raise PausedError(f"the series is paused since {pause.get('since')} ({pause.get('reason')}); "
                              "nothing is sent until `campaign resume`")

    # -- the send -----------------------------------------------------------------------------------
    def count_owed(self, day: date) -> int:
        return self.store.count_owed(day, self.cutoff(day), at=self.clock())

    def send_day(self, day: date, *, dry_run: bool = False, retry_failed: bool = False,
                 resend_unknown: bool = False, audience=None) -> SendReport:
        """Send `day` to every active subscriber still owed it. `audience` narrows the owed set (an extra
        SQLAlchemy condition on subscribers, e.g. a time-zone group for local-time delivery)."""
        project = self.project
        report = SendReport(day, project.schedule.day_number(day), dry_run=dry_run)
        if dry_run:
            return self._dry_run(day, report, audience)
        self.check_not_paused()
        with self.store.lock(f"send:{day}"):
            # Anything still in flight for this day belongs to a sender that died (we hold the lock now).
            report.unknown = self.store.mark_inflight_unknown(day)
            project.render(day, project.default_variant)  # fail before the first batch on a broken template
            entry = project.schedule.days[day]
            self.store.save_issue(day, number=report.number, subject=entry.subject,
                                  web_html=project.render(day, web=True).html, at=self.clock())
            report.owed = self.store.count_owed(day, self.cutoff(day), at=self.clock())
            if retry_failed:
                self._resend_state(day, FAILED, report)
            if resend_unknown or (report.unknown and self.provider.idempotent_batches):
                self._resend_state(day, UNKNOWN, report)
            self._send_owed(day, report, audience)
        if not report.stopped and self.store.count_owed(day, self.cutoff(day), at=self.clock()) == 0:
            self.store.set_issue_state(day, "sent")
        return report

    def _dry_run(self, day: date, report: SendReport, audience) -> SendReport:
        after = 0
        while True:
            rows = self.store.owed_page(day, self.cutoff(day), after_id=after, limit=PAGE_SIZE, at=self.clock(),
                                        extra_where=audience)
            if not rows:
                return report
            for row in rows:
                variant = self.project.variant_for(row.country)
                report.by_variant[variant] = report.by_variant.get(variant, 0) + 1
                report.owed += 1
            after = rows[-1].id

    def _send_owed(self, day: date, report: SendReport, audience) -> None:
        after = 0
        while not self.stop.is_set():
            rows = self.store.owed_page(day, self.cutoff(day), after_id=after, limit=PAGE_SIZE, at=self.clock(),
                                        extra_where=audience)
            if not rows:
                return
            after = rows[-1].id
            self._send_rows(day, rows, report, claim=self.store.claim)
        report.stopped = report.stopped or "stopped by signal"

    def _resend_state(self, day: date, state: str, report: SendReport) -> None:
        after = 0
        while not self.stop.is_set():
            rows = self.store.rows_in_state(day, state, after_id=after, limit=PAGE_SIZE)
            if not rows:
                return
            after = rows[-1].id
            if state == UNKNOWN:
                report.unknown = max(0, report.unknown - len(rows))

            def reclaim(d, ids, *, batch_id, provider, at):
                return self.store.reclaim(d, ids, batch_id=batch_id, provider=provider, from_states=[state], at=at)
            self._send_rows(day, rows, report, claim=reclaim)

    def _send_rows(self, day: date, rows, report: SendReport, *, claim) -> None:
        by_variant: dict[str, list] = defaultdict(list)
        for row in rows:
            by_variant[self.project.variant_for(row.country)].append(row)
        for variant in sorted(by_variant):
            group = by_variant[variant]
            issue = self.project.render(day, variant)
            for start in range(0, len(group), self.provider.max_batch):
                if self.stop.is_set():
                    report.stopped = "stopped by signal"
                    return
                self.check_not_paused()
                chunk = group[start:start + self.provider.max_batch]
                batch_id = f"{day:%Y%m%d}-{uuid.uuid4().hex[:16]}"
                claimed = set(claim(day, [r.id for r in chunk], batch_id=batch_id, provider=self.provider.name,
                                    at=self.clock()))
                recipients = tuple(self.recipient(r) for r in chunk if r.id in claimed)
                if not recipients:
                    continue
                batch = Batch(batch_id, issue, recipients, self.identity, sent_at=self.clock(),
                              metadata={"issue": day.isoformat()})
                results = self.provider.send_batch(batch)
                self._record(day, results, report)
                report.batches += 1
                self.progress(len(recipients))

    def _record(self, day: date, results: list[Result], report: SendReport) -> None:
        outcomes = []
        for r in results:
            status = SENT if r.ok else (REJECTED if r.permanent else FAILED)
            outcomes.append(DeliveryOutcome(r.subscriber_id, status, r.message_id, r.error))
            if status == SENT:
                report.sent += 1
            elif status == REJECTED:
                report.rejected += 1
            else:
                report.failed += 1
        self.store.record(day, outcomes, at=self.clock())
        for r in results:
            if r.suppress:
                self.store.set_status(r.subscriber_id, "bounced", r.error or "suppressed by the provider",
                                      only_if_active=True)

    # -- test sends ---------------------------------------------------------------------------------
    def send_test(self, day: date, email: str, *, country: str | None = None) -> Result:
        """One copy of `day` to `email`, marked [Test]; the ledger is not touched."""
        existing = self.store.subscriber_by_email(email)
        subscriber_id = existing.id if existing else 0
        name = existing.name if existing else None
        variant = self.project.variant_for(country or (existing.country if existing else None))
        issue = self.project.render(day, variant)
        url = unsubscribe_url(self.project.settings.public_url, self.tokens.unsubscribe(subscriber_id))
        batch = Batch(f"test-{uuid.uuid4().hex[:12]}", issue, (Recipient(subscriber_id, email, name, url),),
                      self.identity, sent_at=self.clock(), subject_prefix="[Test] ")
        return self.provider.send_batch(batch)[0]
