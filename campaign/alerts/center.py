"""Raising an alert: recorded once per cause and day, then delivered to every channel on a background thread.

    raise_alert(kind, text, day=…, counts=…, cause=…)
      → ledger/alerts.record_alert (dedupe key = kind:day:cause; a repeat returns None and sends nothing)
      → a daemon thread: each channel tried with exponential back-off (tenacity), every attempt recorded
    `wait()` gives the threads a bounded time to finish (a one-shot command calls it on its way out, after
    its own work is done — so an alert never delays a send); `retry_unsent()` tries the failed ones again.

When the database itself is what failed (a full disk), the alert cannot be recorded: it is still sent to
the webhook and the email channels, without dedupe.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from campaign.alerts.channels import Alert, AlertNotSent, EmailChannel, WebhookChannel
from campaign.alerts.kinds import FOR_ORGANISERS, AlertKind
from campaign.clock import utcnow
from campaign.config import Settings
from campaign.ledger import alerts as ledger

if TYPE_CHECKING:
    from campaign.ledger.alerts import Engine
    from campaign.series.schedule import Schedule

log = logging.getLogger("campaign.alerts")

_THREADS: list[threading.Thread] = []  # every alert thread of this process (wait_for_alerts joins them)
_THREADS_LOCK = threading.Lock()


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+\.[^\s<>()\[\]\"',;:]+")


def without_addresses(text: str) -> str:
    """`text` with every email address replaced by "<address>" (alerts carry counts, not people)."""
    return _ADDRESS.sub("<address>", text)


def wait_for_alerts(timeout: float = 30.0) -> None:
    """Give this process's alert threads up to `timeout` seconds in all (a command on its way out, after its
    own work is done)."""
    import time

    deadline = time.monotonic() + timeout
    with _THREADS_LOCK:
        threads = list(_THREADS)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with _THREADS_LOCK:
        _THREADS[:] = [t for t in _THREADS if t.is_alive()]


@dataclass(frozen=True)
class AlertRetry:
    attempts: int = 4  # per channel, per run
    initial: float = 0.5  # seconds before the second attempt; doubles each time
    maximum: float = 8.0


Channel = WebhookChannel | EmailChannel


class Alerts:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        schedule: Schedule | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        retry: AlertRetry | None = None,
    ):
        self.settings = settings
        self.engine = engine
        self.schedule = schedule
        self.clock = clock
        self.retry = retry or AlertRetry()

    @property
    def campaign_name(self) -> str:
        return self.schedule.campaign.name if self.schedule is not None else self.settings.root.name

    # -- channels ---------------------------------------------------------------------------------------
    def channels(self, kind: str) -> list[Channel]:
        found: list[Channel] = []
        if self.settings.alert_webhook_url:
            found.append(WebhookChannel(self.settings.alert_webhook_url))
        if self.schedule is None:
            return found  # schedule.yaml unreadable: the addresses are unknown, the webhook still hears it
        wanted = self.schedule.alerts
        if wanted.operators:
            found.append(self._email("operators", wanted.operators))
        if wanted.organisers and kind in FOR_ORGANISERS:
            found.append(self._email("organisers", wanted.organisers))
        return found

    def _email(self, name: str, addresses: list[str]) -> EmailChannel:
        from campaign.providers import make_provider, provider_name
        from campaign.providers.base import Identity

        assert self.schedule is not None
        campaign = self.schedule.campaign
        chosen = self.schedule.alerts.email_provider or provider_name(self.settings, campaign.provider)
        return EmailChannel(
            name,
            addresses,
            make_provider=lambda s: make_provider(chosen, s, campaign),
            settings=self.settings,
            # transactional: Postmark's default transactional stream, not the newsletters' broadcast stream
            identity=Identity(
                campaign.from_,
                campaign.reply_to,
                list_id="<alerts.campaign>",
                message_stream="outbound",
                sender_id="alerts",
            ),
        )

    # -- raising ----------------------------------------------------------------------------------------
    def raise_alert(
        self,
        kind: AlertKind,
        text: str,
        *,
        day: date | None = None,
        counts: dict[str, Any] | None = None,
        cause: str = "",
        dedupe: bool = True,
        only: tuple[str, ...] | None = None,
    ) -> Alert | None:
        """Record and send an alert (to the channels named in `only`, else all); None when the same cause
        already alerted that day."""
        now = self.clock()
        text = without_addresses(text)  # a provider's reply may quote a reader's address: never in an alert
        channels = [c for c in self.channels(kind) if only is None or c.name in only]
        key = f"{kind}:{day or now.date()}:{cause}" if dedupe else f"{kind}:{now.isoformat()}:{cause}"
        alert_id: int | None = None
        if self.engine is not None:
            try:
                alert_id = ledger.record_alert(
                    self.engine,
                    key=key,
                    kind=str(kind),
                    day=day,
                    text=text,
                    details={"counts": counts or {}, "campaign": self.campaign_name},
                    channels=[c.name for c in channels],
                    at=now,
                )
            except Exception as err:  # noqa: BLE001 (the database failed: still tell someone)
                log.warning("alert not recorded (%s); sending it anyway", type(err).__name__)
            else:
                if alert_id is None:
                    return None  # this cause alerted already today
        alert = Alert(alert_id, str(kind), day, text, self.campaign_name, now, dict(counts or {}))
        log.info("alert: %s", text)
        if channels:
            thread = threading.Thread(target=self._deliver, args=(alert, channels), name="campaign-alert", daemon=True)
            with _THREADS_LOCK:
                _THREADS.append(thread)
            thread.start()
        return alert

    def _deliver(self, alert: Alert, channels: list[Channel]) -> None:
        for channel in channels:
            self._deliver_one(alert, channel)

    def _deliver_one(self, alert: Alert, channel: Channel) -> bool:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(multiplier=self.retry.initial, max=self.retry.maximum),
            retry=retry_if_exception_type(AlertNotSent),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        channel.send(alert)
                    except AlertNotSent as err:
                        self._record(alert, channel.name, ok=False, error=str(err))
                        raise
                    except Exception as err:  # noqa: BLE001 (a channel must never kill the thread quietly)
                        self._record(alert, channel.name, ok=False, error=f"{type(err).__name__}: {err}")
                        return False
            self._record(alert, channel.name, ok=True, error=None)
            return True
        except AlertNotSent as err:
            log.warning(
                "alert %s not sent to %s after %d attempts: %s", alert.kind, channel.name, self.retry.attempts, err
            )
            return False

    def _record(self, alert: Alert, channel: str, *, ok: bool, error: str | None) -> None:
        if self.engine is None or alert.id is None:
            return
        try:
            ledger.record_attempt(self.engine, alert.id, channel, ok=ok, error=error, at=self.clock())
        except Exception:  # noqa: BLE001 (recording is best effort; the send itself went or did not)
            log.warning("alert %s: could not record the attempt on %s", alert.id, channel)

    def wait(self, timeout: float = 30.0) -> None:
        wait_for_alerts(timeout)

    def retry_unsent(self) -> int:
        """Try every alert send still pending or failed (with attempts left) once more; returns how many went."""
        if self.engine is None:
            return 0
        sent = 0
        limit = self.retry.attempts * 3  # three runs of back-off in all, then it stays failed
        for row, channel_name in ledger.unsent(self.engine, max_attempts=limit):
            channel = next((c for c in self.channels(row.kind) if c.name == channel_name), None)
            if channel is None:
                continue
            alert = Alert(
                row.id, row.kind, row.day, row.text, self.campaign_name, row.raised_at, row.details.get("counts", {})
            )
            sent += self._deliver_one(alert, channel)
        return sent
