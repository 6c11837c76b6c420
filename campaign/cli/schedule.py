"""`campaign run`, `campaign pause`, `campaign resume`: the scheduler's commands (registered on `campaign.cli.app`)."""

from __future__ import annotations

import time
from datetime import timedelta

import typer

from campaign.cli.app import app, err, out, settings, stop_on_signals, store
from campaign.clock import Clock, utcnow
from campaign.errors import CampaignError, ConfigurationError, InvalidInput, LockHeld, PausedError, Problem
from campaign.ledger.states import ACTIVE


def _when(moment, tz) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M %Z}"


@app.command()
def run(
    once: bool = typer.Option(False, "--once", help="Send whatever is due now, then exit (for cron)."),
    rehearse: bool = typer.Option(
        False,
        "--rehearse",
        help="Play the whole schedule on an accelerated clock through the outbox, "
        "with the real scheduler and send path, then exit.",
    ),
    seconds: float = typer.Option(
        15.0, "--seconds", min=1.0, max=45.0, help="With --rehearse: about how many seconds the schedule takes to play."
    ),
) -> None:
    """Run the scheduler: send every scheduled day at its time, exactly once; follow edits to schedule.yaml.

    Prints the next send ("next: day 1, 2027-09-01 09:00 EDT, in 277 days") and waits; logs each send on
    stderr. A restart resumes where it stopped: a day overdue by less than misfire_grace_minutes is sent at
    once, a later one is reported as missed (send it with `campaign send DAY`). SIGTERM or Ctrl-C let the
    batch in flight finish, then exit. One scheduler per database: a second one refuses to start.

    Example: campaign run --rehearse
    """
    from campaign.timing.logs import attach_log_handler, log
    from campaign.timing.scheduler import SeriesScheduler

    if once and rehearse:
        raise InvalidInput(
            Problem(
                "arguments",
                None,
                "--once/--rehearse",
                "--once and --rehearse exclude each other",
                "use --rehearse to play the whole schedule, --once to send what is due now",
            )
        )
    s = settings()
    if not rehearse:  # a real provider refuses to start on a placeholder or a credential it rejects
        from campaign.preflight import require_go_live_at_start

        require_go_live_at_start(s)
    st = store(s)
    try:
        clock = Clock()
        if not rehearse:
            from campaign.timing.rehearsal import refuse_rehearsal_ledger

            refuse_rehearsal_ledger(st)
        if rehearse:
            rehearsal = _rehearsal_clock(s, st, seconds)
            if rehearsal is None:
                _nothing_to_rehearse(st)
                return
            clock = rehearsal
        with stop_on_signals() as (stop, received):
            scheduler = SeriesScheduler(
                s, st, clock=clock, stop=stop, rehearse=rehearse, announce=lambda text: out.print(text, markup=False)
            )
            handler = attach_log_handler(scheduler.log_time, scheduler.tz, err.file)
            started = time.monotonic()
            try:
                summary = _run_or_stand_by(scheduler, "all" if rehearse else "due" if once else "stopped", st, stop)
            finally:
                log.removeHandler(handler)
            if summary is None:  # stopped while waiting as a standby
                return
        _print_summary(summary, s, rehearse=rehearse, once=once, elapsed=time.monotonic() - started)
        if received:
            err.print(
                "stopped: the batch in flight finished and the ledger is consistent; "
                "`campaign run` continues where it stopped",
                markup=False,
            )
    finally:
        st.close()


def _nothing_to_rehearse(st) -> None:
    if not st.count_subscribers().get(ACTIVE):
        out.print("rehearsal: nobody to send to — import subscribers first (campaign subscribers import FILE.csv)")
    else:
        out.print(
            "rehearsal: nothing to send — every scheduled day is already in the ledger "
            "(see `campaign status`; `campaign reset --rehearsal` starts over)"
        )


def _print_summary(summary, s, *, rehearse: bool, once: bool, elapsed: float) -> None:
    missed = f"missed {len(summary.missed)}, skipped {len(summary.skipped)}"
    if rehearse:
        out.print(
            f"rehearsal done in {elapsed:.1f} s: {summary.sent_slots} send time(s), {summary.messages} "
            f"message(s) in {s.outbox_dir}/; {missed}; welcomes {summary.welcomed}"
        )
    elif once:
        out.print(f"once: {summary.sent_slots} send time(s) sent ({summary.messages} message(s)); {missed}")


def _print_skipped(skipped, tz) -> None:
    for slot in skipped:
        out.print(
            f"skipped: {slot.describe(tz)} — send it with `campaign send {slot.number}` if you want it after all",
            markup=False,
        )
    if not skipped:
        out.print("no send time fell inside the pause")


STANDBY_SECONDS = 5.0  # how often a standby scheduler (PostgreSQL) tries to take over


def _run_or_stand_by(scheduler, until: str, st, stop):
    """Run the scheduler. Another one holding the database: on PostgreSQL (many hosts) wait as its standby
    and take over when its connection — and so its advisory lock — goes away; on SQLite (one machine, where
    a dead holder's lock is taken over at once) refuse, naming it. None when stopped while standing by."""
    waiting = False
    while True:
        try:
            return scheduler.run(until)
        except LockHeld as error:
            if not st.shared or until != "stopped":
                raise CampaignError(
                    f"another scheduler is already running on this database: {error} — "
                    "stop it first (one `campaign run` per database)"
                ) from None
            if not waiting:
                out.print(
                    f"standby: {error}; this scheduler takes over when that one stops "
                    f"(checking every {STANDBY_SECONDS:.0f} s)",
                    markup=False,
                )
                waiting = True
                scheduler.watch.standby = True  # taking over later is an alert of its own
            if stop.wait(STANDBY_SECONDS):
                return None


def _rehearsal_clock(s, st, seconds: float) -> Clock | None:
    """The rehearsal writes to the ledger of CAMPAIGN_DATABASE_URL like a real run: refuse where that
    would mark a real campaign's days as sent."""
    from campaign.delivery.as_sent import frozen_days
    from campaign.providers import provider_name
    from campaign.timing.pause import current_pause
    from campaign.timing.rehearsal import REHEARSAL_LEAD_IN, claim_for_rehearsal, rehearsal_clock
    from campaign.timing.watch import load_checked_project

    project = load_checked_project(s, frozen_days(st))
    name = provider_name(s, project.schedule.campaign.provider)
    if name != "outbox":
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                "CAMPAIGN_PROVIDER",
                f"the rehearsal records every day it plays in the ledger of {s.database_url}, and this campaign "
                f"sends through {name}: a later real run would then send nothing",
                "rehearse on a scratch database through the outbox: CAMPAIGN_DATABASE_URL=sqlite:///rehearsal.db "
                "CAMPAIGN_PROVIDER=outbox campaign run --rehearse",
            )
        )
    pause = current_pause(st)
    if pause:
        raise PausedError(
            f"the series is paused since {_when(pause.since, project.schedule.campaign.tz)} "
            f"({pause.reason}): every send would be skipped — `campaign resume` first"
        )
    claim_for_rehearsal(st)  # refused when the database holds any real delivery
    clock = rehearsal_clock(project, st, seconds)
    if clock is not None:
        tz = project.schedule.campaign.tz
        start = clock.now() + timedelta(seconds=REHEARSAL_LEAD_IN * clock.speed)
        days_per_second = clock.speed / 86400
        out.print(
            f"rehearsal: playing the schedule from {_when(start, tz)} through the outbox ({s.outbox_dir}/), "
            f"1 s ≈ {days_per_second:.1f} days; each message is dated at its scheduled time",
            markup=False,
        )
    return clock


@app.command()
def pause(reason: str = typer.Option(..., "--reason", help="Why; shown by `campaign status` and logged.")) -> None:
    """Pause the whole series: nothing is sent, scheduled or manual, until `campaign resume`.

    Send times that fall inside the pause are skipped (and shown as skipped), unless you resume with
    --catch-up. Use it to hold awareness mail while a suicide is in the news.

    Example: campaign pause --reason "holding mail while a suicide is in the news"
    """
    if not reason.strip():
        raise InvalidInput(
            Problem(
                "argument",
                None,
                "--reason",
                "the reason is empty",
                'say why, e.g. --reason "news coverage of a suicide"',
            )
        )
    from campaign.timing.pause import pause_series

    s = settings()
    st = store(s)
    try:
        window, started = pause_series(st, reason.strip(), now=utcnow())
    finally:
        st.close()
    since = f"{window.since:%Y-%m-%d %H:%M} UTC"
    if not started:
        out.print(f"already paused since {since} ({window.reason}); `campaign resume` ends it", markup=False)
        return
    out.print(
        f"paused since {since}: {window.reason}. Nothing is sent until `campaign resume` "
        "(add --catch-up to send the days that fall inside the pause).",
        markup=False,
    )


@app.command()
def resume(
    catch_up: bool = typer.Option(
        False,
        "--catch-up",
        help="Send the days whose send time fell inside the pause one a day from the next send time; "
        "the rest of the series moves later in order.",
    ),
    skip: bool = typer.Option(False, "--skip", help="Leave those days skipped (the default)."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="End a pause the series put on itself (breaker, refused credentials)."
    ),
) -> None:
    """End the pause. Days whose send time fell inside it stay skipped (--skip, the default), or with
    --catch-up go out one a day from the next send time, every later day moving later by as much — so no
    reader gets two parts on one day; the series may then run past its last date. `campaign status` shows
    the new dates; `campaign run` sends them.

    Nothing already sent is sent again: the ledger decides who is still owed each day. A pause the series
    put on itself (the deliverability breaker, the provider refusing the credentials) shows its reason and
    figures and ends only with --yes.

    Example: campaign resume --catch-up
    """
    from campaign.timing.catchup import mark_skipped, postpone_after_pause
    from campaign.timing.pause import current_pause, end_pause
    from campaign.timing.watch import load_checked_project

    if catch_up and skip:
        raise InvalidInput(
            Problem("arguments", None, "--catch-up/--skip", "--catch-up and --skip exclude each other", "choose one")
        )
    from campaign.delivery.as_sent import frozen_days

    s = settings()
    st = store(s)
    try:
        project = load_checked_project(s, frozen_days(st))  # invalid inputs stop here, while still paused
        if current_pause(st) is None:
            out.print("not paused: nothing to resume")
            return
        from campaign.cli.alerting import confirm_self_pause

        confirm_self_pause(st, yes)
        if catch_up:  # the ledger is checked before the pause ends
            from campaign.timing.rehearsal import refuse_rehearsal_ledger

            refuse_rehearsal_ledger(st)
        window = end_pause(st, now=utcnow(), catch_up=catch_up)
        assert window is not None and window.until is not None  # paused a moment ago: it ends now
        tz = project.schedule.campaign.tz
        out.print(
            f"resumed: the pause from {_when(window.since, tz)} to {_when(window.until, tz)} "
            f"({window.reason}) has ended",
            markup=False,
        )
        if not catch_up:
            _print_skipped(mark_skipped(project, st, window.since, window.until), tz)
            return
        moved = postpone_after_pause(project, st, window.since, window.until)
        if not moved:
            out.print("no send time fell inside the pause: nothing to catch up")
            return
        shown: set[int] = set()
        for slot in moved:
            if slot.number not in shown and slot.default_group:
                shown.add(slot.number)
                out.print(f"day {slot.number} now sends {_when(slot.at, tz)}", markup=False)
        out.print(
            f"caught up: {len(shown)} day(s) moved, one a day; the series now ends {_when(moved[-1].at, tz)} "
            "(`campaign run` sends them; `campaign status` shows the dates)",
            markup=False,
        )
    finally:
        st.close()


@app.command()
def reset(
    rehearsal: bool = typer.Option(
        False, "--rehearsal", help="Forget what a rehearsal played (required: only a rehearsal database is reset)."
    ),
) -> None:
    """Start a rehearsal database fresh: delete its deliveries, issue records, welcomes and pause history;
    the subscribers stay. Refused on a database that holds real deliveries.

    Example: campaign reset --rehearsal
    """
    from campaign.timing.rehearsal import REHEARSAL_KEY, is_rehearsal_ledger

    if not rehearsal:
        raise InvalidInput(Problem("arguments", None, "--rehearsal", "say what to reset", "campaign reset --rehearsal"))
    s = settings()
    st = store(s)
    try:
        if not is_rehearsal_ledger(st) and st.delivery_counts():
            raise InvalidInput(
                Problem(
                    "database",
                    None,
                    "CAMPAIGN_DATABASE_URL",
                    "this database holds real deliveries, not a rehearsal's: nothing was reset",
                    "reset only a rehearsal database; a live ledger is never reset",
                )
            )
        gone = st.forget_sends((REHEARSAL_KEY, "pause", "pause_history"))
    finally:
        st.close()
    out.print(
        f"reset: {gone} rehearsal delivery(ies) forgotten; the subscribers stay — `campaign run --rehearse` plays again"
    )
