"""`campaign subscribers export | erase` and `campaign privacy purge`: readers' access and erasure rights,
and retention (see ledger/privacy.py). Output never repeats an erased address."""

from __future__ import annotations

import json
from datetime import timedelta

import typer

from campaign.cli.app import app, out, settings, store, subscribers_app
from campaign.errors import InvalidInput, Problem

privacy_app = typer.Typer(no_args_is_help=True, help="Readers' data: retention and purge.")
app.add_typer(privacy_app, name="privacy")


def _normalised(email: str) -> str:
    from campaign.ledger.addresses import normalise_email

    try:
        return normalise_email(email, utf8_local=True)
    except ValueError as error:
        raise InvalidInput(
            Problem("argument", None, "EMAIL", str(error), "give the address as the reader wrote it")
        ) from None


def _not_found(what: str) -> InvalidInput:
    return InvalidInput(
        Problem("argument", None, "EMAIL", f"{what} is not a subscriber", "check it with `campaign subscribers list`")
    )


@subscribers_app.command("export")
def subscribers_export(email: str = typer.Argument(..., help="The reader's address.")) -> None:
    """Print everything held about one reader as JSON: profile, preferences, consent record, every delivery,
    and the events about them (GDPR access and portability).

    Example: campaign subscribers export ana@bücher.de > ana.json
    """
    address = _normalised(email)
    st = store()
    try:
        subscriber = st.subscriber_by_email(address)
        data = st.export_subscriber(subscriber.id) if subscriber else None
    finally:
        st.close()
    if data is None:
        raise _not_found(address)
    out.print(json.dumps(data, indent=2, ensure_ascii=False))


@subscribers_app.command("erase")
def subscribers_erase(
    email: str = typer.Argument(..., help="The reader's address."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase a reader for good: address, name and every personal field; what stays is a keyed hash of the
    address (so it is never imported or sent to again without a new confirmed sign-up) and the delivery
    counts, linked to nobody.

    Example: campaign subscribers erase reader7@example.org --yes
    """
    from campaign.clock import utcnow
    from campaign.ledger.privacy import address_hash

    address = _normalised(email)
    s = settings()
    st = store(s)
    try:
        subscriber = st.subscriber_by_email(address)
        if subscriber is None:
            if st.erased_hashes([address_hash(s.secret_key, address)]):
                st.scrub_files()  # finish an erasure whose file clean-up was interrupted
                out.print("already erased")
                return
            raise _not_found(address)
        if not yes and not typer.confirm("Erase this reader for good? This cannot be undone.", err=True):
            raise typer.Exit(1)
        st.erase_subscriber(subscriber.id, key=s.secret_key, at=utcnow())
    finally:
        st.close()
    out.print(f"erased subscriber {subscriber.id}: no personal data left; delivery counts kept, linked to nobody")


@privacy_app.command("purge")
def privacy_purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say how many would be erased."),
) -> None:
    """Erase everyone unsubscribed, bounced or complained (or who never confirmed a sign-up) more than
    `retention_days` (schedule.yaml, default 90) ago. `campaign run` does this once a day.

    Example: campaign privacy purge
    """
    from campaign.cli.app import project
    from campaign.clock import utcnow

    s = settings()
    st = store(s)
    try:
        days = project(s, st).schedule.campaign.retention_days
        now = utcnow()
        cutoff = now - timedelta(days=days)
        if dry_run:
            out.print(f"{len(st.suppressed_before(cutoff))} reader(s) left more than {days} days ago")
            return
        erased = st.purge_expired(key=s.secret_key, cutoff=cutoff, at=now)
    finally:
        st.close()
    out.print(f"erased {erased} reader(s) who left more than {days} days ago")
