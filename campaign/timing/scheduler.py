"""`campaign run`: APScheduler 3 sends each scheduled day at its time — exactly once, across restarts and edits.

How it holds together
- One APScheduler date job per *slot* (a day's send time for a group of subscribers, see slots.py), in a
  memory job store rebuilt at every start from the ledger: a slot nobody is owed is done; every other slot
  is added at its send time. APScheduler's `misfire_grace_time` (schedule.yaml: misfire_grace_minutes,
  default 120) and `coalesce` decide what a late start does: a slot less than the grace overdue runs at
  once, one beyond it fires EVENT_JOB_MISSED — logged, and recorded for `campaign status` as missed, for
  the operator to send with `campaign send DAY`. Nothing is ever sent twice: the ledger decides who is owed.
- One worker thread: sends never overlap, and welcome emails for late joiners go through the same worker.
- The main thread watches the inputs (watch.py) and re-syncs within a second: moved days move, removed
  days are cancelled, added days are scheduled. An edit that cannot be loaded — for whatever reason — is
  logged with its location and the last good schedule stays in force.
- A send that fails unexpectedly is logged and tried again at the next tick, then after 1, 2, 4 … minutes,
  never later than the end of its grace window: only a slot still unsent then is missed.
- The series-wide pause (pause.py) holds every send; slots that fall inside it are recorded as skipped.
- `store.lock("scheduler")`: one scheduler per database; a second one refuses to start and names the first.
- Time comes from a `Clock` (clock.py): the wall clock, or a simulated one for tests and the rehearsal.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from campaign.clock import Clock
from campaign.config import Settings
from campaign.delivery.as_sent import as_sent, frozen_days
from campaign.delivery.reminders import REMINDER_EVERY
from campaign.ledger.issues import is_settled
from campaign.ledger.views import SchedulerLedger
from campaign.providers.base import Provider
from campaign.series.project import Project
from campaign.timing.catchup import record_missed, record_skipped
from campaign.timing.dispatch import RunSummary, retry_after_error, send_slot
from campaign.timing.logs import log, log_problems, log_started, next_line
from campaign.timing.outlet import ProviderOutlet
from campaign.timing.pause import current_pause, pause_windows, schedule_shift, skipped_by_pause
from campaign.timing.retention import PURGE_EVERY, purge_logged
from campaign.timing.slot_runs import Phase, SlotRun, SlotRuns
from campaign.timing.slots import Shift, Slot, Tail, owed_count, slots_for, subscriber_zones, tail_needed
from campaign.timing.watch import InputWatcher, describe_changes, load_checked_project
from campaign.timing.watchdog import SchedulerWatch
from campaign.timing.welcomes import WelcomeJob, remind_signups_logged, send_welcomes_logged, welcomes_on

ZONE_REFRESH_SECONDS = 10.0  # local-time delivery: how often new subscriber zones are looked for
WELCOME_EVERY_SECONDS = 30.0  # late joiners: how often new ones are looked for


class SeriesScheduler:
    def __init__(
        self,
        settings: Settings,
        store: SchedulerLedger,
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
        self.project = load_checked_project(settings, frozen_days(store))
        self.watcher = InputWatcher(settings, lambda: frozen_days(store))
        self.outlet = ProviderOutlet(settings, rehearse=rehearse, factory=provider_factory)
        self._lock = threading.RLock()
        self.zones = self._zones()
        self.welcome_job = WelcomeJob(lambda: self._send_welcomes(self.project, self.clock.now), self.clock, self.stop)
        self.runs = SlotRuns()  # every slot's phase in this process (slot_runs.py)
        self.summary = RunSummary()
        self._aps: BackgroundScheduler | None = None
        self._last_announced: str | None = None
        self._job = threading.local()  # the clock of the send in progress on this thread (for log times)
        self._slots_for: tuple | None = None  # (project, zones, shift, slots by key)
        self.shift: Shift = schedule_shift(store)  # what `campaign resume --catch-up` moved (read at every sync)
        self._tail: Tail | None = None  # send times after the last day for postponed parts (None: count again)
        self.watch = SchedulerWatch(settings, store, lambda: self.project, enabled=not rehearse)  # alerts, heartbeat

    # -- plumbing -----------------------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return self.project.schedule.campaign.tz

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.project.schedule.campaign.misfire_grace_minutes)

    def _zones(self) -> frozenset[str]:
        local = self.project.schedule.campaign.zoned
        return subscriber_zones(self.store) if local else frozenset()

    def _owed(self, slot: Slot) -> int:
        return owed_count(self.store, slot, self.zones)

    def log_time(self) -> datetime:
        """Campaign time for log lines: inside a send, that send's clock (in a rehearsal, its scheduled time)."""
        return getattr(self._job, "clock", self.clock.now)()

    def _misfire_grace_seconds(self) -> int | None:  # None: a rehearsal never misses a day to a busy moment
        return None if self.clock.speed != 1.0 else max(1, int(self.grace.total_seconds()))

    # -- the run loop -------------------------------------------------------------------------------------
    def run(self, until: str = "stopped") -> RunSummary:
        """Run until stopped ("stopped"), until nothing is due any more ("due": --once), or until every
        slot has been handled ("all": the rehearsal). Raises LockHeld if another scheduler holds the database."""
        if until not in ("stopped", "due", "all"):
            raise ValueError(until)
        with self.store.lock("scheduler"):
            self.outlet.get(self.project)  # credentials are checked before anything is scheduled
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
                if until == "stopped":
                    self.watch.started()
                next_zones = next_welcome = next_reminder = next_purge = time.monotonic()
                while not self.stop.is_set():
                    if until == "all" and self._idle():
                        break
                    if until == "due" and self._nothing_due():
                        break
                    if self.stop.wait(self.poll_seconds):
                        break
                    self.check_inputs()
                    self.watch.beat()
                    if time.monotonic() >= next_zones:
                        next_zones = time.monotonic() + ZONE_REFRESH_SECONDS
                        self.refresh_zones()
                        if self.project.schedule.campaign.from_start:
                            with self._lock:
                                self._tail = None  # a reader who joined since may need send times after the last day
                    if time.monotonic() >= next_welcome and welcomes_on(self.project):
                        next_welcome = time.monotonic() + WELCOME_EVERY_SECONDS
                        self.welcome_job.add(self._aps)
                    if not self.rehearse and time.monotonic() >= next_reminder:
                        next_reminder = time.monotonic() + REMINDER_EVERY.total_seconds()
                        remind_signups_logged(self.settings, self.project, self.store, now=self.clock.now())
                    if not self.rehearse and time.monotonic() >= next_purge:  # retention_days, once a day
                        next_purge = time.monotonic() + PURGE_EVERY.total_seconds()
                        purge_logged(self.settings, self.project, self.store, now=self.clock.now())
                    self.sync()
                    self._announce_next()
            finally:
                if self.stop.is_set():
                    self.summary.stopped = True
                    log.info("stopping: the batch in flight finishes, then the scheduler exits")
                aps.shutdown(wait=True)
                self._aps = None
                self.outlet.close()
                if until == "stopped":
                    self.watch.stopped("stopped by signal" if self.stop.is_set() else "ended")
        return self.summary

    def _started(self) -> None:
        log_started(self.project, os.getpid(), self.outlet.name(self.project), current_pause(self.store))
        if welcomes_on(self.project):
            self.welcome_job.add(self._aps)
        self.sync()
        with self._lock:
            done = self.runs.count(Phase.FINISHED)
            waiting = self.runs.count(Phase.SCHEDULED)
        log.info("%d send time(s) already handled (sent, missed or skipped), %d to run", done, waiting)
        self._announce_next(force=True)

    def _idle(self) -> bool:
        with self._lock:
            retrying = any(r.retry_due() for r in self.runs.in_phase(Phase.IDLE))
            busy = self.runs.count(Phase.SCHEDULED) or self.runs.running is not None
            return not busy and not self.welcome_job.pending and not retrying

    def _nothing_due(self) -> bool:
        now = self.clock.now()
        with self._lock:
            if self.runs.running is not None or self.welcome_job.pending:
                return False
            if any(r.slot.at <= now for r in self.runs.in_phase(Phase.SCHEDULED)):
                return False
            return not any(r.retry_due() and not r.waiting_until(now) for r in self.runs.in_phase(Phase.IDLE))

    # -- keeping APScheduler's jobs in line with the schedule and the ledger -------------------------------
    def sync(self) -> None:
        aps = self._aps
        if aps is None:
            return
        shift = schedule_shift(self.store)
        with self._lock:
            project = self.project
            now = self.clock.now()
            self.shift = shift
            desired = self._desired_slots(project)
            for gone in [r for r in self.runs.in_phase(Phase.SCHEDULED) if r.slot.key not in desired]:
                self._remove_job(gone)  # (one being sent right now finishes; the edit applies from the next)
            windows = recorded = None  # read from the store at most once per sync, when needed
            for key, slot in desired.items():
                run = self.runs.of(slot)
                if run.phase != Phase.IDLE or run.waiting_until(now):
                    continue
                if slot.at <= now or self.rehearse:
                    if self._owed(slot) == 0:
                        self.runs.finish(slot)
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
                run_at = max(slot.at, now) if run.attempted else slot.at
                if slot.at > now:  # a missed or skipped day an edit moved into the future: scheduled again
                    recorded = recorded if recorded is not None else self.store.issue_states()
                    if (row := recorded.get(slot.day)) is not None and is_settled(row.state):
                        self.store.reschedule(slot.day)
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
                run.phase, run.attempted = Phase.SCHEDULED, True

    def _desired_slots(self, project: Project) -> dict[str, Slot]:
        """Every slot of the schedule in force, recomputed only when the schedule, the zones or the tail change
        (the tail — send times after the last day for postponed parts — is counted again after each send)."""
        if self._tail is None:
            self._tail = tail_needed(project.schedule, self.store, self.shift, self.clock.now())
            pending = [r.slot.at for r in self.runs.in_phase(Phase.SCHEDULED)]
            if isinstance(self._tail, tuple) and pending:  # evergreen: a planned send time stays until it ran
                self._tail = (min(self._tail[0], min(pending).astimezone(self.tz).date()), self._tail[1])
        cached, key = self._slots_for, (project, self.zones, self.shift, self._tail)
        if cached is None or cached[0] is not project or cached[1:4] != key[1:]:
            slots = slots_for(project.schedule, self.zones, self.shift, tail=self._tail)
            cached = (*key, {s.key: s for s in slots})
            self._slots_for = cached
        return cached[4]

    def _remove_job(self, run: SlotRun) -> None:
        try:
            if self._aps is not None:
                self._aps.remove_job(run.slot.key)
        except JobLookupError:
            pass  # already handed to the worker: it sees the slot is gone and sends nothing
        run.phase, run.attempted = Phase.IDLE, False

    # -- reacting to the world: edits, new zones ---------------------------------------------------------
    def check_inputs(self) -> bool:
        """Reload when an input file changed; True when a new valid project is in force. Never raises: an
        edit that cannot be loaded is logged with its location and the last good project stays in force."""
        changed = self.watcher.changed()
        if not changed:
            return False
        project, problems = self.watcher.reload(changed)
        if project is None:
            header = f"{', '.join(changed)} changed, but the edit is invalid — the last valid schedule stays in force:"
            log_problems(header, problems)
            self.watch.reload_refused(changed, list(problems))
            return False
        with self._lock:
            old = slots_for(self.project.schedule, self.zones, self.shift)
            self.project = project
            self.zones = self._zones()
            self._tail = None
            self.runs.drop_retries_on_edit()
            for line in describe_changes(old, slots_for(project.schedule, self.zones, self.shift), self.tz):
                log.info("%s changed: %s", ", ".join(changed), line)
            self.sync()
        return True

    def refresh_zones(self) -> None:
        zones = self._zones()
        with self._lock:
            if zones != self.zones:
                added = sorted(zones - self.zones)
                self.zones = zones
                self._tail = None
                if added:
                    log.info("new subscriber time zone(s): %s", ", ".join(added))
                self.sync()

    # -- the jobs (worker thread) ------------------------------------------------------------------------
    def _slot_job(self, key: str) -> None:
        with self._lock:
            run = self.runs.get(key)
            project = self.project
            if run is None or run.phase != Phase.SCHEDULED or self.stop.is_set():
                if run is not None and run.phase == Phase.SCHEDULED:
                    run.phase = Phase.IDLE
                return
            run.phase, slot = Phase.RUNNING, run.slot
        try:
            self._job.clock = self.clock.send_clock(slot.at)
            self._send_slot(project, slot)
        except Exception:  # a bug must not kill the scheduler: log it, try again soon, within the grace
            retry_at = self._retry_unexpected(slot)
            log.exception(
                "%s: unexpected error; trying again %s (within the grace window)",
                slot.describe(self.tz),
                f"at {retry_at.astimezone(self.tz):%H:%M:%S %Z}" if retry_at > self.clock.now() else "now",
            )
        finally:
            del self._job.clock
            with self._lock:
                if run.phase == Phase.RUNNING:  # not finished: sync schedules it again (or its retry)
                    run.phase = Phase.IDLE

    def _send_slot(self, project: Project, slot: Slot) -> None:
        refreshed = as_sent(project, self.store)  # days started since it was loaded (here or by another process)
        with self._lock:
            if self.project is project:
                self.project = refreshed
        project = refreshed
        outcome = send_slot(
            project,
            self.store,
            slot,
            self.zones,
            provider=lambda: self.outlet.get(project),
            welcome=(lambda: self._send_welcomes(project, self._job.clock)) if welcomes_on(project) else None,
            clock=self._job.clock,
            stop=self.stop,
        )
        self.summary.messages += outcome.report.sent if outcome.report else 0
        self.watch.sent(outcome.report)
        if outcome.kind == "paused":
            self._skipped(slot, outcome.reason)
        elif outcome.kind == "retry":
            self._retry(slot, outcome.retry_after)
        elif outcome.kind == "done":
            self.summary.sent_slots += 1
            with self._lock:
                self.runs.finish(slot)
            if not slot.tail:
                self._settle(project, slot)
            if slot.series:
                with self._lock:
                    self._tail = None  # parts may have been postponed or sent: count the tail again...
                self.sync()  # ...and schedule it now, so a rehearsal does not end before a tail it just made

    def _retry(self, slot: Slot, after: timedelta | None) -> None:
        """Try the slot again after `after` (None: after the next valid edit of the inputs)."""
        with self._lock:
            run = self.runs.of(slot)
            run.retrying, run.retry_at = True, None if after is None else self.clock.now() + after

    def _retry_unexpected(self, slot: Slot) -> datetime:
        with self._lock:
            run = self.runs.of(slot)
            run.failures += 1
            retry_at = retry_after_error(run.failures, self.clock.now(), slot.at + self.grace)
            run.retrying, run.retry_at = True, retry_at
        return retry_at

    def _settle(self, project: Project, slot: Slot) -> None:
        """Mark the day sent once every one of its slots is done (local time: the last zone)."""
        day_slots = [s for s in slots_for(project.schedule, self.zones, self.shift) if s.day == slot.day and not s.tail]
        if all(self._owed(s) == 0 for s in day_slots) and not self.store.waiting_on(slot.day).total:
            self.store.finish(slot.day)  # never while failed or unknown deliveries wait

    def _send_welcomes(self, project: Project, clock: Callable[[], datetime]) -> None:
        provider = self.outlet.get(project)
        self.summary.welcomed += send_welcomes_logged(project, self.store, provider, clock=clock, stop=self.stop)

    # -- missed, skipped ---------------------------------------------------------------------------------
    def _on_missed(self, event: JobExecutionEvent) -> None:
        with self._lock:
            run = self.runs.get(event.job_id)
            if run is None or run.phase != Phase.SCHEDULED:
                return
            run.phase = Phase.IDLE
        self._missed(run.slot)

    def _on_error(self, event: JobExecutionEvent) -> None:
        with self._lock:
            run = self.runs.get(event.job_id)
            if run is not None and run.phase == Phase.SCHEDULED:
                run.phase = Phase.IDLE

    def _missed(self, slot: Slot) -> None:
        with self._lock:
            self.runs.finish(slot)
        if slot.tail:  # nothing to record for a day: the parts stay postponed and the tail grows by one
            log.warning("%s missed; the postponed parts go out from the next send time", slot.describe(self.tz))
            self._tail = None
        elif record_missed(self.project, self.store, slot, owed := self._owed(slot)):
            self.summary.missed.append(slot)
            self.watch.missed(slot.day, slot.number, owed)

    def _skipped(self, slot: Slot, reason: str) -> None:
        with self._lock:
            self.runs.finish(slot)
        if slot.tail:
            log.warning("%s skipped: the series is paused (%s)", slot.describe(self.tz), reason)
            self._tail = None
            return
        record_skipped(self.project, self.store, slot, reason)
        self.summary.skipped.append(slot)

    # -- "next: day 1, 2027-09-01 09:00 EDT, in 277 days" ------------------------------------------------
    def next_slot(self) -> Slot | None:
        with self._lock:
            slots = [r.slot for r in self.runs.in_phase(Phase.SCHEDULED)]
        return min(slots, key=lambda s: s.at) if slots else None

    def _announce_next(self, force: bool = False) -> None:
        if self.rehearse and not force:
            return
        text = next_line(self.next_slot(), self.clock.now(), self.tz)
        if force or text.split(", in ")[0] != (self._last_announced or "").split(", in ")[0]:
            self._last_announced = text
            self.announce(text)
