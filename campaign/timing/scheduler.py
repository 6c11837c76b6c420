"""`campaign run`: APScheduler 3 sends each scheduled day at its time — exactly once, across restarts and edits.

How it holds together
- One APScheduler date job per *slot* (a day's send time for a group of subscribers, see timeline.py), in a
  memory job store rebuilt at every start from the ledger: a slot nobody is owed is done; every other slot
  is added at its send time. APScheduler's `misfire_grace_time` (schedule.yaml: misfire_grace_minutes,
  default 120) and `coalesce` decide what a late start does: a slot less than the grace overdue runs at
  once, one beyond it fires EVENT_JOB_MISSED — logged, and recorded for `campaign status` as missed, for
  the operator to send with `campaign send DAY`. Nothing is ever sent twice: the ledger decides who is owed.
- One worker thread: sends never overlap, and welcome emails for late joiners go through the same worker.
- The main thread watches the inputs (schedule.yaml, content/, templates/) and re-syncs within a second:
  moved days move, removed days are cancelled, added days are scheduled. An invalid edit is logged with its
  line numbers and the last valid schedule stays in force.
- The series-wide pause (pause.py) holds every send; slots that fall inside it are recorded as skipped.
- `store.lock("scheduler")`: one scheduler per database; a second one refuses to start and names the first.
- Time comes from a `Clock` (clock.py): the wall clock, or a simulated one for tests and the rehearsal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from campaign.clock import Clock, humanize
from campaign.config import Settings
from campaign.delivery.sender import Sender
from campaign.delivery.welcome import send_welcomes
from campaign.errors import CampaignError, InvalidInput, LockHeld, PausedError
from campaign.ledger.store import Store
from campaign.providers import make_provider, provider_name
from campaign.providers.base import Provider
from campaign.providers.outbox import OutboxProvider
from campaign.series.project import Project
from campaign.timing.pause import current_pause, pause_windows, skipped_by_pause
from campaign.timing.slots import Slot, owed_count, slots_for, subscriber_zones
from campaign.timing.watch import describe_changes, inputs_signature, load_checked_project

log = logging.getLogger("campaign.scheduler")
RETRY_AFTER = timedelta(minutes=5)  # a send that failed as a whole (provider down) is tried again...
LOCKED_RETRY = timedelta(minutes=1)  # ...or one another process is sending right now
ZONE_REFRESH_SECONDS = 10.0  # local-time delivery: how often new subscriber zones are looked for
WELCOME_EVERY_SECONDS = 30.0  # late joiners: how often new ones are looked for


@dataclass
class RunSummary:
    sent_slots: int = 0
    messages: int = 0
    missed: list[Slot] = field(default_factory=list)
    skipped: list[Slot] = field(default_factory=list)
    welcomed: int = 0
    stopped: bool = False


class SeriesScheduler:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock | None = None,
        stop: threading.Event | None = None,
        rehearse: bool = False,
        announce: Callable[[str], None] = print,
        poll_seconds: float | None = None,
        provider_factory: Callable[[Project], Provider] | None = None,
    ):
        self.settings = settings
        self.store = store
        self.clock = clock or Clock()
        self.stop = stop or threading.Event()
        self.rehearse = rehearse
        self.announce = announce
        self.poll_seconds = poll_seconds if poll_seconds is not None else (0.05 if rehearse else 1.0)
        self.project = load_checked_project(settings)
        self._signature = inputs_signature(settings)
        self._provider_factory = provider_factory or self._default_provider
        self._provider: Provider | None = None
        self._provider_key: str | None = None
        self._lock = threading.RLock()
        self.zones = self._zones()
        self.outstanding: dict[str, Slot | None] = {}  # added to APScheduler, not finished yet
        self.finished: set[str] = set()  # sent, missed or skipped in this process
        self.attempted: set[str] = set()
        self.retry_after: dict[str, datetime | None] = {}  # None: after the next valid edit
        self.running: str | None = None
        self.summary = RunSummary()
        self._aps: BackgroundScheduler | None = None
        self._last_announced: str | None = None
        self._job = threading.local()  # the clock of the send in progress on this thread (for log times)
        self._slots_for: tuple | None = None  # (project, zones, slots by key)

    # -- plumbing -----------------------------------------------------------------------------------------
    @property
    def tz(self):
        return self.project.schedule.campaign.tz

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.project.schedule.campaign.misfire_grace_minutes)

    def _default_provider(self, project: Project) -> Provider:
        if self.rehearse:
            return OutboxProvider(self.settings.outbox_dir)
        c = project.schedule.campaign
        return make_provider(provider_name(self.settings, c.provider), self.settings, c)

    def _provider_for(self, project: Project) -> Provider:
        """The provider for the current schedule (re-made when an edit changes it); worker thread only."""
        c = project.schedule.campaign
        key = f"{provider_name(self.settings, c.provider)}:{c.rate_limit}:{c.concurrency}"
        if self._provider is None or key != self._provider_key:
            if self._provider is not None:
                self._provider.close()
            self._provider, self._provider_key = self._provider_factory(project), key
        return self._provider

    def _zones(self) -> frozenset[str]:
        if self.project.schedule.campaign.delivery != "local_time":
            return frozenset()
        return subscriber_zones(self.store)

    def log_time(self) -> datetime:
        """Campaign time for log lines: inside a send, that send's clock (in a rehearsal, its scheduled time)."""
        return getattr(self._job, "clock", self.clock.now)()

    def _misfire_grace_seconds(self) -> int | None:
        if self.clock.speed != 1.0:
            return None  # a rehearsal never misses a day because the machine was busy for a moment
        return max(1, int(self.grace.total_seconds()))

    # -- the run loop -------------------------------------------------------------------------------------
    def run(self, until: str = "stopped") -> RunSummary:
        """Run until stopped ("stopped"), until nothing is due any more ("due": --once), or until every
        slot has been handled ("all": the rehearsal). Raises LockHeld if another scheduler holds the database."""
        if until not in ("stopped", "due", "all"):
            raise ValueError(until)
        with self.store.lock("scheduler"):
            self._provider_for(self.project)  # credentials are checked before anything is scheduled
            if self.rehearse:
                self.clock.restart()
            aps = BackgroundScheduler(
                timezone="UTC",
                executors={"default": ThreadPoolExecutor(1)},
                job_defaults={"coalesce": True, "max_instances": 1},
            )
            aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
            aps.add_listener(self._on_error, EVENT_JOB_ERROR)
            self._aps = aps
            aps.start()
            try:
                self._started()
                next_zones = next_welcome = time.monotonic()
                while not self.stop.is_set():
                    if until == "all" and self._idle():
                        break
                    if until == "due" and self._nothing_due():
                        break
                    if self.stop.wait(self.poll_seconds):
                        break
                    self.check_inputs()
                    if time.monotonic() >= next_zones:
                        next_zones = time.monotonic() + ZONE_REFRESH_SECONDS
                        self.refresh_zones()
                    if time.monotonic() >= next_welcome and self._welcomes_on():
                        next_welcome = time.monotonic() + WELCOME_EVERY_SECONDS
                        self._add_welcome_job()
                    self.sync()
                    self._announce_next()
            finally:
                if self.stop.is_set():
                    self.summary.stopped = True
                    log.info("stopping: the batch in flight finishes, then the scheduler exits")
                aps.shutdown(wait=True)
                self._aps = None
                if self._provider is not None:
                    self._provider.close()
        return self.summary

    def _started(self) -> None:
        c = self.project.schedule.campaign
        how = "each subscriber's local time" if c.delivery == "local_time" else "campaign time"
        log.info(
            "scheduler started (pid %d): %d days at %s %s (%s), grace %d min, provider %s%s",
            os.getpid(),
            len(self.project.schedule.dates),
            c.send_time,
            c.timezone,
            how,
            c.misfire_grace_minutes,
            "outbox (rehearsal)" if self.rehearse else provider_name(self.settings, c.provider),
            f", late joiners: {c.late_joiners}",
        )
        pause = current_pause(self.store)
        if pause is not None:
            log.warning(
                "the series is paused since %s (%s): send times are skipped until `campaign resume`",
                f"{pause.since.astimezone(self.tz):%Y-%m-%d %H:%M %Z}",
                pause.reason,
            )
        if self._welcomes_on():
            self._add_welcome_job()
        self.sync()
        with self._lock:
            done = len(self.finished)
            waiting = len(self.outstanding) - ("welcomes" in self.outstanding)
        log.info("%d send time(s) already handled (sent, missed or skipped), %d to run", done, waiting)
        self._announce_next(force=True)

    def _idle(self) -> bool:
        with self._lock:
            retrying = any(v is not None for k, v in self.retry_after.items() if k not in self.finished)
            return not self.outstanding and self.running is None and not retrying

    def _nothing_due(self) -> bool:
        now = self.clock.now()
        with self._lock:
            if self.running is not None:
                return False
            if any(slot is None or slot.at <= now for slot in self.outstanding.values()):
                return False
            return not any(v is not None and v <= now for k, v in self.retry_after.items() if k not in self.finished)

    # -- keeping APScheduler's jobs in line with the schedule and the ledger -------------------------------
    def sync(self) -> None:
        aps = self._aps
        if aps is None:
            return
        with self._lock:
            project = self.project
            now = self.clock.now()
            desired = self._desired_slots(project)
            for key in [k for k, s in self.outstanding.items() if s is not None and k not in desired]:
                if key == self.running:
                    continue  # being sent right now: it finishes; the edit applies from the next send
                self._remove_job(key)
            windows = recorded = None  # read from the store at most once per sync, when needed
            for key, slot in desired.items():
                if key in self.outstanding or key in self.finished or key == self.running:
                    continue
                retry = self.retry_after.get(key, False)
                if retry is None or (retry and retry > now):
                    continue
                if slot.at <= now or self.rehearse:
                    if owed_count(self.store, slot, self.zones) == 0:
                        self.finished.add(key)
                        continue
                if slot.at <= now:
                    windows = windows if windows is not None else pause_windows(self.store)
                    pause = skipped_by_pause(windows, slot.at)
                    if pause is not None:
                        self._skipped(slot, pause.reason)
                        continue
                    if now > slot.at + self.grace:
                        self._missed(slot)  # decided in campaign time; APScheduler's own misfire check
                        continue  # (below) covers a send held up while the process runs
                run_at = slot.at if key not in self.attempted else max(slot.at, now)
                if slot.at > now:
                    recorded = recorded if recorded is not None else self.store.issue_states()
                    self._clear_recorded_miss(slot, recorded.get(slot.day))
                aps.add_job(
                    self._slot_job,
                    "date",
                    run_date=self.clock.to_wall(run_at),
                    args=[key],
                    id=key,
                    name=slot.key,
                    misfire_grace_time=self._misfire_grace_seconds(),
                    coalesce=True,
                    replace_existing=True,
                )
                self.outstanding[key] = slot
                self.attempted.add(key)

    def _desired_slots(self, project: Project) -> dict[str, Slot]:
        """Every slot of the schedule in force, recomputed only when the schedule or the zones change."""
        cached = self._slots_for
        if cached is None or cached[0] is not project or cached[1] != self.zones:
            self._slots_for = (project, self.zones, {s.key: s for s in slots_for(project.schedule, self.zones)})
        return self._slots_for[2]

    def _remove_job(self, key: str) -> None:
        try:
            self._aps.remove_job(key)
        except JobLookupError:
            pass  # already handed to the worker: it sees the slot is gone and sends nothing
        self.outstanding.pop(key, None)
        self.attempted.discard(key)

    def _clear_recorded_miss(self, slot: Slot, row) -> None:
        """A missed or skipped day that an edit moved into the future is simply scheduled again."""
        if row is not None and row.state in ("missed", "skipped"):
            self.store.set_issue_state(slot.day, None)

    # -- reacting to the world: edits, new zones ---------------------------------------------------------
    def check_inputs(self) -> bool:
        """Reload when an input file changed; True when a new valid project is in force."""
        signature = inputs_signature(self.settings)
        if signature == self._signature:
            return False
        changed = sorted(p for p in set(signature) | set(self._signature) if signature.get(p) != self._signature.get(p))
        self._signature = signature
        try:
            project = load_checked_project(self.settings)
        except InvalidInput as err:
            log.error(
                "%s changed, but the edit is invalid — the last valid schedule stays in force:", ", ".join(changed)
            )
            for line in err.lines():
                log.error("  %s", line)
            return False
        with self._lock:
            old = slots_for(self.project.schedule, self.zones)
            self.project = project
            self.zones = self._zones()
            self.retry_after = {k: v for k, v in self.retry_after.items() if v is not None}
            for line in describe_changes(old, slots_for(project.schedule, self.zones), self.tz):
                log.info("%s changed: %s", ", ".join(changed), line)
            self.sync()
        return True

    def refresh_zones(self) -> None:
        zones = self._zones()
        with self._lock:
            if zones != self.zones:
                added = sorted(zones - self.zones)
                self.zones = zones
                if added:
                    log.info("new subscriber time zone(s): %s", ", ".join(added))
                self.sync()

    # -- the jobs (worker thread) ------------------------------------------------------------------------
    def _slot_job(self, key: str) -> None:
        with self._lock:
            slot = self.outstanding.get(key)
            project = self.project
            if slot is None or self.stop.is_set():
                self.outstanding.pop(key, None)
                return
            self.running = key
        try:
            self._job.clock = self.clock.send_clock(slot.at)
            self._send_slot(project, slot)
        except Exception:  # a bug must not kill the scheduler: log it, try again later
            log.exception("%s: unexpected error; trying again in %s", slot.describe(self.tz), RETRY_AFTER)
            self._retry(key, RETRY_AFTER)
        finally:
            del self._job.clock
            with self._lock:
                self.running = None
                self.outstanding.pop(key, None)

    def _send_slot(self, project: Project, slot: Slot) -> None:
        key, label = slot.key, slot.describe(self.tz)
        pause = current_pause(self.store)
        if pause is not None:
            self._skipped(slot, pause.reason)
            return
        try:
            provider = self._provider_for(project)
            if self._welcomes_on(project):
                self._send_welcomes(project, self._job.clock)  # late joiners: their welcome comes first
            sender = Sender(project, self.store, provider, clock=self._job.clock, stop=self.stop)
            report = sender.send_day(slot.day, audience=slot.audience(self.zones))
        except PausedError:
            pause = current_pause(self.store)
            self._skipped(slot, pause.reason if pause else "paused")
            return
        except LockHeld as err:
            log.warning("%s: %s — another process is sending it; checking again in %s", label, err, LOCKED_RETRY)
            self._retry(key, LOCKED_RETRY)
            return
        except InvalidInput as err:
            log.error(
                "%s: not sent — the inputs are invalid (fix them; the send is tried again after the "
                "next valid edit, or send it with `campaign send %d`):",
                label,
                slot.number,
            )
            for line in err.lines():
                log.error("  %s", line)
            self._retry(key, None)
            return
        except CampaignError as err:
            log.error("%s: not sent — %s; trying again in %s (within the grace window)", label, err, RETRY_AFTER)
            self._retry(key, RETRY_AFTER)
            return
        text = f"{label}: sent {report.sent}, failed {report.failed}, rejected {report.rejected} in {report.batches} batch(es)"
        if report.unknown:
            text += f"; {report.unknown} unknown (may or may not have gone out: see `campaign status`)"
        if report.failed:
            text += f" — retry the failed with `campaign send {slot.number} --retry-failed`"
        (log.warning if report.failed or report.unknown else log.info)(text)
        self.summary.messages += report.sent
        if report.stopped:
            if self.stop.is_set():
                log.info("%s: stopped (%s); the rest is sent when the scheduler runs again", label, report.stopped)
            else:  # the sender gave up (e.g. failed batches in a row): try again later, within the grace window
                log.error("%s: the send stopped (%s); trying again in %s", label, report.stopped, RETRY_AFTER)
                self._retry(key, RETRY_AFTER)
            return
        self.summary.sent_slots += 1
        with self._lock:
            self.finished.add(key)
            self.retry_after.pop(key, None)
        self._settle(project, slot)

    def _retry(self, key: str, after: timedelta | None) -> None:
        """Try the slot again after `after` (None: after the next valid edit of the inputs)."""
        with self._lock:
            self.retry_after[key] = None if after is None else self.clock.now() + after

    def _settle(self, project: Project, slot: Slot) -> None:
        """Mark the day sent once every one of its slots is done (local time: the last zone)."""
        day_slots = [s for s in slots_for(project.schedule, self.zones) if s.day == slot.day]
        if all(owed_count(self.store, s, self.zones) == 0 for s in day_slots):
            self.store.set_issue_state(slot.day, "sent")

    def _welcomes_on(self, project: Project | None = None) -> bool:
        return (project or self.project).schedule.campaign.late_joiners == "welcome"

    def _add_welcome_job(self) -> None:
        with self._lock:
            if self._aps is None or "welcomes" in self.outstanding:
                return
            self.outstanding["welcomes"] = None
            self._aps.add_job(
                self._welcome_job,
                "date",
                run_date=self.clock.to_wall(self.clock.now()),
                id="welcomes",
                name="welcome late joiners",
                misfire_grace_time=None,
                replace_existing=True,
            )

    def _welcome_job(self) -> None:
        try:
            if not self.stop.is_set():
                self._send_welcomes(self.project, self.clock.now)
        finally:
            with self._lock:
                self.outstanding.pop("welcomes", None)

    def _send_welcomes(self, project: Project, clock: Callable[[], datetime]) -> None:
        """Never lets a broken welcome hold up an issue: problems are logged and tried again later."""
        try:
            self.summary.welcomed += send_welcomes(
                project, self.store, self._provider_for(project), clock=clock, stop=self.stop
            )
        except InvalidInput as err:
            log.error("welcome emails not sent — the welcome template is invalid:")
            for line in err.lines():
                log.error("  %s", line)
        except Exception:
            log.exception("welcome emails: unexpected error (tried again later)")

    # -- missed, skipped ---------------------------------------------------------------------------------
    def _on_missed(self, event) -> None:
        with self._lock:
            slot = self.outstanding.pop(event.job_id, None)
        if slot is not None:
            self._missed(slot)

    def _on_error(self, event) -> None:
        with self._lock:
            self.outstanding.pop(event.job_id, None)

    def _missed(self, slot: Slot) -> None:
        with self._lock:
            self.finished.add(slot.key)
        owed = owed_count(self.store, slot, self.zones)
        if owed == 0:
            return
        minutes = self.project.schedule.campaign.misfire_grace_minutes
        log.warning(
            "%s MISSED: not sent within %d min of its send time (the scheduler was not running); %d "
            "subscriber(s) still owed it — send it with `campaign send %d`",
            slot.describe(self.tz),
            minutes,
            owed,
            slot.number,
        )
        self.store.set_issue_state(
            slot.day,
            "missed",
            f"{owed} owed — not sent within {minutes} min of its send time; send with `campaign send {slot.number}`",
            number=slot.number,
            subject=self.project.schedule.days[slot.day].subject,
        )
        self.summary.missed.append(slot)

    def _skipped(self, slot: Slot, reason: str) -> None:
        with self._lock:
            self.finished.add(slot.key)
        log.warning(
            "%s SKIPPED: the series is paused (%s); `campaign resume --catch-up` would send it",
            slot.describe(self.tz),
            reason,
        )
        self.store.set_issue_state(
            slot.day,
            "skipped",
            f"paused: {reason}",
            number=slot.number,
            subject=self.project.schedule.days[slot.day].subject,
        )
        self.summary.skipped.append(slot)

    # -- "next: day 1, 2027-09-01 09:00 EDT, in 277 days" ------------------------------------------------
    def next_slot(self) -> Slot | None:
        with self._lock:
            slots = [s for k, s in self.outstanding.items() if s is not None and k != self.running]
        return min(slots, key=lambda s: s.at) if slots else None

    def _announce_next(self, force: bool = False) -> None:
        if self.rehearse and not force:
            return
        slot = self.next_slot()
        if slot is None:
            text = "next: nothing left to send — every scheduled day is sent, missed or skipped (see `campaign status`)"
        else:
            now = self.clock.now()
            text = f"next: {slot.describe(self.tz)}, " + (f"in {humanize(slot.at - now)}" if slot.at > now else "now")
        if force or text.split(", in ")[0] != (self._last_announced or "").split(", in ")[0]:
            self._last_announced = text
            self.announce(text)


class CampaignTimeFormatter(logging.Formatter):
    """Log lines stamped with campaign time (simulated in a rehearsal) in the campaign's zone."""

    def __init__(self, now: Callable[[], datetime], tz):
        super().__init__("%(asctime)s %(message)s")
        self.now, self.tz = now, tz

    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        return f"{self.now().astimezone(self.tz):%Y-%m-%d %H:%M:%S %Z}"


def attach_log_handler(now: Callable[[], datetime], tz, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CampaignTimeFormatter(now, tz))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # APScheduler's own lines ("Run time of job … was missed by …") would only repeat ours.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return handler


REHEARSAL_LEAD_IN = 1.0  # wall seconds of simulated time before the first send: the scheduler's start-up


def rehearsal_clock(project: Project, store: Store, seconds: float) -> Clock | None:
    """A clock that plays the remaining slots in about `seconds` (after a short lead-in, so the first send
    is still ahead once the scheduler is up); None when nobody is owed anything (a second `make run`)."""
    zones = subscriber_zones(store) if project.schedule.campaign.delivery == "local_time" else frozenset()
    pending = [s for s in slots_for(project.schedule, zones) if owed_count(store, s, zones)]
    if not pending:
        return None
    span = max((pending[-1].at - pending[0].at).total_seconds(), 60.0)
    speed = max(1.0, span / max(seconds - REHEARSAL_LEAD_IN, 1.0))
    return Clock(pending[0].at - timedelta(seconds=REHEARSAL_LEAD_IN * speed), speed=speed)
