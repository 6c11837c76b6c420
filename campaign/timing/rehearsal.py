"""The rehearsal: the real scheduler plays the whole schedule on an accelerated clock through the outbox.

A rehearsal writes its deliveries to the ledger like a real run, so the database remembers that it is a
rehearsal database (state key "rehearsal"): a rehearsal refuses a database that holds any real delivery,
and a real send refuses one that holds rehearsal deliveries (`campaign reset --rehearsal` starts fresh).
"""

from __future__ import annotations

from datetime import timedelta

from campaign.clock import Clock, utcnow
from campaign.errors import ConfigurationError, Problem
from campaign.ledger.views import SchedulerLedger
from campaign.series.project import Project
from campaign.timing.pause import schedule_shift
from campaign.timing.slots import owed_count, slots_for, subscriber_zones, tail_needed

REHEARSAL_LEAD_IN = 1.0  # wall seconds of simulated time before the first send: the scheduler's start-up


def rehearsal_clock(project: Project, store: SchedulerLedger, seconds: float) -> Clock | None:
    """A clock that plays the remaining slots in about `seconds` (after a short lead-in, so the first send
    is still ahead once the scheduler is up); None when nobody is owed anything (a second `make run`)."""
    zones = subscriber_zones(store) if project.schedule.campaign.zoned else frozenset()
    shift = schedule_shift(store)
    tail = tail_needed(project.schedule, store, shift, utcnow())  # readers behind, or joining late (from_start)
    pending = [s for s in slots_for(project.schedule, zones, shift, tail=tail) if owed_count(store, s, zones)]
    if not pending:
        return None
    span = max((pending[-1].at - pending[0].at).total_seconds(), 60.0)
    speed = max(1.0, span / max(seconds - REHEARSAL_LEAD_IN, 1.0))
    return Clock(pending[0].at - timedelta(seconds=REHEARSAL_LEAD_IN * speed), speed=speed)


REHEARSAL_KEY = "rehearsal"  # state: {"since": ISO time} — this database has held a rehearsal


def is_rehearsal_ledger(store: SchedulerLedger) -> bool:
    return bool(store.get_state(REHEARSAL_KEY))


def refuse_rehearsal_ledger(store: SchedulerLedger) -> None:
    """A real send or `campaign run` on a database a rehearsal wrote to would skip what the rehearsal
    "sent": refuse, naming how to start fresh."""
    if not is_rehearsal_ledger(store):
        return
    counts = store.delivery_counts()
    if not counts:  # rehearsed with nobody to send to: the database is simply fresh
        store.delete_state(REHEARSAL_KEY)
        return
    total = sum(sum(by_status.values()) for by_status in counts.values())
    raise ConfigurationError(
        Problem(
            "database",
            None,
            "CAMPAIGN_DATABASE_URL",
            f"this is a rehearsal's database: {len(counts)} day(s), {total} delivery(ies) played through the "
            "outbox (`campaign status` lists them) — a real send here would treat those days as sent",
            "start fresh with `campaign reset --rehearsal`, or point CAMPAIGN_DATABASE_URL at another database",
        )
    )


def claim_for_rehearsal(store: SchedulerLedger) -> None:
    """Mark the database as a rehearsal database — refused (exit 2, nothing changed) when it holds any real
    delivery, so a rehearsal never writes a live ledger."""
    if not is_rehearsal_ledger(store) and store.delivery_counts():
        raise ConfigurationError(
            Problem(
                "database",
                None,
                "CAMPAIGN_DATABASE_URL",
                "this database holds real deliveries: a rehearsal would mark the days it plays as sent to "
                "real subscribers",
                "rehearse on a scratch database: CAMPAIGN_DATABASE_URL=sqlite:///rehearsal.db campaign run --rehearse",
            )
        )
    if not is_rehearsal_ledger(store):
        store.set_state(REHEARSAL_KEY, {"since": utcnow().isoformat(timespec="seconds")})
