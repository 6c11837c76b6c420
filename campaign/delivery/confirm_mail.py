"""The sign-up confirmation email: rendered through the same pipeline as every issue (crisis block,
disclaimer and footer appended and verified), sent through the configured provider.

Sending happens on a small background pool so the sign-up response takes the same time whether or not an
email goes out (the page must not reveal whether an address is already on the list). Confirmations file
into their own outbox folder (`outbox/confirmations/YYYY-MM-DD/`) so they never overwrite an issue's file.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import date, datetime

from campaign.config import Settings
from campaign.delivery.identity import identity_for
from campaign.delivery.tokens import Tokens
from campaign.errors import CampaignError
from campaign.ledger.subscribers import Subscriber
from campaign.ledger.views import SenderLedger
from campaign.providers import Batch, Provider, Recipient, Result, make_provider, provider_name
from campaign.series.links import unsubscribe_url
from campaign.series.merge import CONFIRM_URL, fill_link
from campaign.series.project import Project
from campaign.series.render import RenderedIssue

log = logging.getLogger("campaign.web")

TEMPLATE = "confirm"
OUTBOX_SUBFOLDER = "confirmations"


@dataclasses.dataclass(frozen=True)
class ConfirmationBatch(Batch):
    """A batch whose Message-ID can never equal an issue's (issues derive theirs from day + subscriber)."""

    def message_id(self, recipient: Recipient) -> str:
        return f"<confirm.{self.batch_id}.{recipient.subscriber_id}@{self.identity.from_domain}>"


def confirm_url(public_url: str, token: str) -> str:
    return f"{public_url}/confirm/{token}"


class ConfirmationMailer:
    """Sends one kind of transactional email with one per-recipient link (subclasses change the class
    attributes: the "download my data" email, data_mail.py)."""

    template = TEMPLATE
    outbox_subfolder = OUTBOX_SUBFOLDER
    event = "confirmation"  # events "<event>_sent" / "<event>_failed"

    def subject(self, name: str) -> str:
        return f"Please confirm your subscription to {name}"

    preheader = "One click to confirm. If you did not ask for this, you can ignore this email."

    def link(self, subscriber: Subscriber) -> str:
        return confirm_url(self.settings.public_url, self.tokens.confirm(subscriber.id))

    def __init__(
        self,
        settings: Settings,
        project: Project,
        store: SenderLedger,
        tokens: Tokens,
        *,
        clock: Callable[[], datetime],
        make: Callable[[], Provider] | None = None,
        workers: int = 2,
    ):
        self.settings = settings
        self.project = project
        self.store = store
        self.tokens = tokens
        self.clock = clock
        campaign = project.schedule.campaign
        # Confirmations get their own outbox folder; other providers ignore outbox_dir.
        provider_settings = dataclasses.replace(settings, outbox_dir=settings.outbox_dir / self.outbox_subfolder)
        name = provider_name(settings, campaign.provider)
        self._make = make or (lambda: make_provider(name, provider_settings, campaign))
        self._rendered: dict[tuple[str, date], RenderedIssue] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="confirm-mail")
        self._pending: set[Future] = set()

    def check(self) -> None:
        """Fail at start-up, not on the first sign-up: the provider's settings and the template must work."""
        self._make().close()
        self._render(self.project.default_variant, self.clock().date())

    def _render(self, variant: str, day: date) -> RenderedIssue:
        key = (variant, day)
        with self._lock:
            if key not in self._rendered:
                name = self.project.schedule.campaign.name
                self._rendered[key] = self.project.renderer.render_message(
                    self.template,
                    day=day,
                    variant=variant,
                    subject=self.subject(name),
                    preheader=self.preheader,
                    context={"confirm_url": CONFIRM_URL},
                )
            return self._rendered[key]

    def send(self, subscriber: Subscriber) -> Result:
        """Render (once per variant and day), merge this subscriber's links, send; returns the provider's result."""
        now = self.clock()
        rendered = self._render(self.project.variant_for(subscriber.country), now.date())
        link = self.link(subscriber)
        merged_html, merged_text = fill_link(rendered.html, rendered.text, CONFIRM_URL, link)
        issue = dataclasses.replace(rendered, html=merged_html, text=merged_text)
        recipient = Recipient(
            subscriber.id,
            subscriber.email,
            subscriber.name,
            unsubscribe_url(self.settings.public_url, self.tokens.unsubscribe(subscriber.id)),
        )
        batch = ConfirmationBatch(
            f"confirm-{uuid.uuid4().hex[:16]}",
            issue,
            (recipient,),
            identity_for(self.project, self.store),
            sent_at=now,
            metadata={"kind": self.event},
        )
        provider = self._make()
        try:
            result = provider.send_batch(batch)[0]
        finally:
            provider.close()
        self.store.add_event(
            provider=provider.name,
            kind=f"{self.event}_sent" if result.ok else f"{self.event}_failed",
            email=subscriber.email,
            subscriber_id=subscriber.id,
            payload={"message_id": result.message_id, "error": result.error},
            at=now,
        )
        return result

    def submit(self, subscriber: Subscriber) -> Future:
        future = self._pool.submit(self._send_logged, subscriber)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _send_logged(self, subscriber: Subscriber) -> None:
        try:
            result = self.send(subscriber)
        except CampaignError as err:
            log.error("%s email to subscriber %s not sent: %s", self.event, subscriber.id, err)
            return
        except Exception:  # a background thread must log, never die silently
            log.exception("%s email to subscriber %s not sent", self.event, subscriber.id)
            return
        if not result.ok:
            # (the provider's reason may quote the address: the log names the subscriber's id only)
            log.error("%s email to subscriber %s rejected", self.event, subscriber.id)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait for queued confirmations (tests, shutdown). True when none is left."""
        with self._lock:
            pending = set(self._pending)
        done, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self) -> None:
        self.flush()
        self._pool.shutdown(wait=True)
