"""Late joiners (`late_joiners: welcome` in schedule.yaml): one welcome email linking to the days they missed.

By default a subscriber added mid-series simply starts with the next scheduled day (the ledger's owed rule:
joined before the send time). With `welcome`, someone who joined after at least one issue went out first
gets one welcome email — rendered through the same pipeline as every issue (crisis block, disclaimer,
footer appended and verified) — listing the earlier days in the archive. Each welcome is claimed in the
store before it is sent, so nobody is welcomed twice, whatever restarts or second processes happen.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from campaign.clock import zone_of
from campaign.delivery.identity import identity_for
from campaign.delivery.tokens import Tokens
from campaign.errors import ProviderError
from campaign.ledger.views import SenderLedger
from campaign.providers.base import Batch, Provider, Recipient
from campaign.series.links import preferences_url, unsubscribe_url
from campaign.series.project import Project
from campaign.series.render import RenderedIssue

log = logging.getLogger("campaign.scheduler")


def welcome_folder_day(project: Project) -> date:
    """The day welcome emails are filed under (outbox folder, Message-ID): 31 August of the series' year.
    Never a scheduled day (the series runs in September), so a welcome can never overwrite, or share a
    Message-ID with, an issue to the same subscriber."""
    return date(project.schedule.dates[0].year, 8, 31)


def _long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def render_welcome(
    project: Project, variant: str, earlier: tuple, next_day: date | None, *, from_start: bool = False
) -> RenderedIssue:
    """`earlier`: archive rows (day, number, subject) of the issues sent before the subscriber joined.
    `from_start` (late_joiners: from_start, welcome: true): they missed nothing — part 1 comes on `next_day`."""
    schedule = project.schedule
    renderer = project.renderer
    context = {
        "earlier": [
            {
                "number": row.number,
                "date": _long_date(row.day),
                "subject": row.subject,
                "url": renderer.archive_url(row.day),
            }
            for row in earlier
        ],
        "next_issue": (
            {"number": 1 if from_start else schedule.day_number(next_day), "date": _long_date(next_day)}
            if next_day
            else None
        ),
        "total": len(schedule.dates),
    }
    return renderer.render_message(
        "welcome",
        day=welcome_folder_day(project),
        subject=f"Welcome to {schedule.campaign.name}",
        preheader="You joined partway through the series: here are the parts you missed, and what comes next.",
        variant=variant,
        context=context,
    )


def _why_not_welcome(project: Project, row, next_day: date | None, now: datetime, *, already_started: bool) -> str:
    """No burst: a welcome is a series email too, so it goes only to a late joiner who gets no part on the same
    calendar day (in their own zone) and has not started yet. Someone whose first part comes first simply
    starts with it — its "Day N of M" and archive link say where they are. "" when the welcome may go."""
    if already_started:
        return "already receiving the series: the parts they get say where they are"
    if next_day is None:
        return ""
    zone = zone_of(row.timezone) if project.schedule.campaign.local_time else None
    zone = zone or project.schedule.campaign.tz
    part_at = project.schedule.send_at(next_day)
    if zone is not project.schedule.campaign.tz:
        part_at = datetime.combine(next_day, part_at.timetz().replace(tzinfo=None), tzinfo=zone)
    if part_at.astimezone(zone).date() == now.astimezone(zone).date():
        return f"their first part (day {project.schedule.day_number(next_day)}) reaches them the same day"
    return ""


def send_welcomes(
    project: Project,
    store: SenderLedger,
    provider: Provider,
    *,
    clock: Callable[[], datetime],
    stop: threading.Event | None = None,
) -> int:
    """Welcome every late joiner still owed a welcome; returns how many were sent. Held while paused."""
    schedule = project.schedule
    if store.get_state("pause"):  # the series pause (timing/pause.py keeps it under this key)
        return 0
    archive = [row for row in store.archived_issues() if row.day in schedule.days]
    if not archive:
        return 0  # nothing has gone out yet: nobody is late
    first_at = min(schedule.send_at(row.day) for row in archive)
    tokens = Tokens(project.settings.secret_key)
    identity = identity_for(project, store)
    groups: dict[tuple, list] = defaultdict(list)
    now = clock()
    joiners = store.late_joiners(first_at, at=now)
    started = store.received_parts([row.id for row in joiners])
    from_start = schedule.campaign.from_start  # they miss nothing: part 1 comes at their first send time
    for row in joiners:
        earlier = () if from_start else tuple(a for a in archive if schedule.send_at(a.day) < row.joined_at)
        next_day = next((d for d in schedule.dates if schedule.send_at(d) >= row.joined_at), None)
        if next_day is None and from_start:  # after the last day: the send times go on, one a day
            next_day = (row.joined_at.astimezone(schedule.campaign.tz) + timedelta(days=1)).date()
        reason = _why_not_welcome(project, row, next_day, now, already_started=row.id in started)
        if reason:
            store.skip_welcome(row.id, reason, at=now)
            continue
        groups[(project.variant_for(row.country), earlier, next_day)].append(row)
    sent = 0
    for (variant, earlier, next_day), rows in groups.items():
        message = render_welcome(project, variant, earlier, next_day, from_start=from_start)
        for start in range(0, len(rows), provider.max_batch):
            if stop is not None and stop.is_set():
                return sent
            claimed = [r for r in rows[start : start + provider.max_batch] if store.claim_welcome(r.id, at=clock())]
            if not claimed:
                continue
            recipients = tuple(
                Recipient(
                    r.id,
                    r.email,
                    r.name,
                    unsubscribe_url(project.settings.public_url, tokens.unsubscribe(r.id)),
                    preferences_url(project.settings.public_url, tokens.preferences(r.id, message.day)),
                )
                for r in claimed
            )
            batch = Batch(
                f"welcome-{uuid.uuid4().hex[:16]}",
                message,
                recipients,
                identity,
                sent_at=clock(),
                metadata={"message": "welcome"},
            )
            try:
                results = provider.send_batch(batch)
            except ProviderError as err:
                for r in claimed:
                    store.record_welcome(r.id, sent=False, error=str(err), at=clock())
                log.warning("welcome emails not sent to %d late joiner(s): %s (tried again later)", len(claimed), err)
                continue
            for result in results:
                # An outcome the provider could not confirm counts as sent: a welcome is never sent twice.
                went_out = result.ok or result.unknown
                store.record_welcome(
                    result.subscriber_id, sent=went_out, message_id=result.message_id, error=result.error, at=clock()
                )
                sent += went_out
    if sent:
        log.info("welcomed %d late joiner(s) with links to the earlier days", sent)
    return sent
