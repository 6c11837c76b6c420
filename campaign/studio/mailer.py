"""The sign-in email: one short message with the single-use link, sent through the configured provider (with
`outbox`, it lands in `outbox/studio/YYYY-MM-DD/`).

Sent from a small background pool, so the sign-in page answers in the same time whether or not an email goes
out: the page must not reveal whether an address has an account.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime

from campaign.config import Settings
from campaign.delivery.identity import identity_for
from campaign.errors import CampaignError
from campaign.providers import Batch, Provider, Recipient, make_provider, provider_name
from campaign.series.project import Project
from campaign.series.render import RenderedIssue

log = logging.getLogger("campaign.studio")

OUTBOX_SUBFOLDER = "studio"
SUBJECT = "Your sign-in link for the campaign studio"


def message(link: str, minutes: int, now: datetime) -> RenderedIssue:
    text = (
        f"Open this link to sign in to the campaign studio:\n\n{link}\n\n"
        f"It works once, within {minutes} minutes. If you did not ask for it, ignore this email: "
        "nobody can sign in without it.\n"
    )
    safe = html.escape(link, quote=True)
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head><body>'
        f'<p>Open this link to sign in to the campaign studio:</p><p><a href="{safe}">Sign in</a></p>'
        f"<p>It works once, within {minutes} minutes. If you did not ask for it, ignore this email: nobody can "
        "sign in without it.</p></body></html>"
    )
    return RenderedIssue(now.date(), 0, "studio", SUBJECT, "", body, text, False)


class SigninMailer:
    """`project` is loaded when a link is sent, not when the studio starts: a schedule.yaml that does not load
    must not keep organisers out of the studio (the sender and provider come from it; until it loads again, a
    link is logged as not sent and `campaign users link` still works)."""

    def __init__(self, settings: Settings, project: Callable[[], Project]):
        self.settings = settings
        self._project = project
        self._provider_settings = dataclasses.replace(settings, outbox_dir=settings.outbox_dir / OUTBOX_SUBFOLDER)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-mail")
        self._pending: set[Future] = set()

    def send(self, email: str, link: str, minutes: int, now: datetime) -> None:
        project = self._project()
        campaign = project.schedule.campaign
        # A random id: each link email gets its own outbox file and Message-ID.
        recipient = Recipient(secrets.randbelow(2**31 - 1) + 1, email, None, f"{self.settings.public_url}/")
        batch = Batch(
            f"studio-{secrets.token_hex(8)}", message(link, minutes, now), (recipient,), identity_for(project), now
        )
        name = provider_name(self.settings, campaign.provider)
        provider: Provider = make_provider(name, self._provider_settings, campaign)
        try:
            result = provider.send_batch(batch)[0]
        finally:
            provider.close()
        if not result.ok:
            log.error("sign-in email not sent: %s", result.error)

    def submit(self, email: str, link: str, minutes: int, now: datetime) -> None:
        future = self._pool.submit(self._send_logged, email, link, minutes, now)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _send_logged(self, *args) -> None:
        try:
            self.send(*args)
        except CampaignError as err:
            log.error("sign-in email not sent: %s", err)
        except Exception:  # a background thread must log, never die silently
            log.exception("sign-in email not sent")

    def flush(self, timeout: float = 30.0) -> bool:
        _, not_done = wait(set(self._pending), timeout=timeout)
        return not not_done

    def close(self) -> None:
        self.flush()
        self._pool.shutdown(wait=True)
