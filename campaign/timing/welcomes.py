"""Late joiners' welcome emails inside `campaign run`: never allowed to hold up an issue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler

from campaign.clock import Clock
from campaign.config import Settings
from campaign.delivery.welcome import send_welcomes
from campaign.errors import InvalidInput
from campaign.ledger.views import SchedulerLedger
from campaign.providers.base import Provider
from campaign.series.project import Project
from campaign.timing.logs import log, log_problems


def welcomes_on(project: Project) -> bool:
    campaign = project.schedule.campaign
    return campaign.late_joiners == "welcome" or (campaign.from_start and campaign.welcome)


def send_welcomes_logged(
    project: Project,
    store: SchedulerLedger,
    provider: Provider,
    *,
    clock: Callable[[], datetime],
    stop: threading.Event,
) -> int:
    """Welcome every late joiner still owed one; problems are logged (and tried again later), never raised."""
    try:
        return send_welcomes(project, store, provider, clock=clock, stop=stop)
    except InvalidInput as err:
        log_problems("welcome emails not sent — the welcome template is invalid:", err.lines())
    except Exception:
        log.exception("welcome emails: unexpected error (tried again later)")
    return 0


class WelcomeJob:
    """The welcome job: at most one at a time in APScheduler, on the scheduler's single worker thread, so
    it never overlaps a send. `pending` while it waits or runs."""

    JOB_ID = "welcomes"

    def __init__(self, send: Callable[[], None], clock: Clock, stop: threading.Event):
        self.send, self.clock, self.stop = send, clock, stop
        self.pending = False
        self._lock = threading.Lock()

    def add(self, aps: BaseScheduler | None) -> None:
        with self._lock:
            if aps is None or self.pending:
                return
            self.pending = True
        aps.add_job(
            self._run,
            "date",
            run_date=self.clock.to_wall(self.clock.now()),
            id=self.JOB_ID,
            name="welcome late joiners",
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _run(self) -> None:
        try:
            if not self.stop.is_set():
                self.send()
        finally:
            self.pending = False


def remind_signups_logged(settings: Settings, project: Project, store: SchedulerLedger, *, now: datetime) -> int:
    """One reminder to each sign-up left unconfirmed for 24 h (delivery/reminders.py); logged, never raised."""
    from campaign.delivery.confirm_mail import ConfirmationMailer
    from campaign.delivery.reminders import send_signup_reminders
    from campaign.delivery.tokens import Tokens

    try:
        mailer = ConfirmationMailer(settings, project, store, Tokens(settings.secret_key), clock=lambda: now)
        try:
            sent = send_signup_reminders(store, mailer, now=now)
        finally:
            mailer.close()
    except Exception:
        log.exception("sign-up reminders: unexpected error (tried again later)")
        return 0
    if sent:
        log.info("sign-up reminders: %d sent (unconfirmed for 24 hours; never more than one each)", sent)
    return sent
