"""`campaign studio` (the organisers' web app), `campaign users add|list|remove|link` and `campaign audit`.

Registered on `campaign.cli.app.app` when `campaign.cli` is imported.
"""

from __future__ import annotations

import logging
import secrets
import signal
import sys
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from typing import Optional

import typer

from campaign.cli.app import app, err, out, settings, store
from campaign.config import warn
from campaign.errors import InvalidInput, Problem

users_app = typer.Typer(no_args_is_help=True, help="Manage the organisers who may sign in to the studio.")
app.add_typer(users_app, name="users")

ROLES = ("editor", "approver", "admin")
CLI_CLIENT = "cli"


def _ledger(st):
    from campaign.ledger.studio import StudioLedger

    return StudioLedger(st.engine)


def _address(raw: str) -> str:
    from campaign.ledger.addresses import normalise_email

    try:
        return normalise_email(raw, utf8_local=True)
    except ValueError as error:
        raise InvalidInput(
            Problem("argument", None, "EMAIL", str(error), "give one address, e.g. ed@example.org")
        ) from None


@users_app.command("add")
def users_add(
    email: str = typer.Argument(..., help="The organiser's email address."),
    role: str = typer.Option("editor", "--role", help="editor (edits), approver (also approves), admin (also audit)."),
) -> None:
    """Add an organiser (or change their role).

    Example: campaign users add ed@example.org --role editor
    """
    from campaign.clock import utcnow
    from campaign.ledger.states import AuditTag, Role

    if role not in ROLES:
        raise InvalidInput(
            Problem("argument", None, "--role", f"unknown role {role!r}", "use editor, approver or admin")
        )
    address = _address(email)
    with closing(store()) as st:
        ledger = _ledger(st)
        user, new = ledger.add_user(address, Role(role), at=utcnow())
        ledger.record_event(
            AuditTag.USER_ADDED,
            at=utcnow(),
            client=CLI_CLIENT,
            user_id=user.id,
            email=user.email,
            additional={"role": role},
        )
    out.print(f"{'added' if new else 'updated'} {user.email} as {role}")


@users_app.command("list")
def users_list() -> None:
    """List the organisers who may sign in, with their roles.

    Example: campaign users list
    """
    with closing(store()) as st:
        users = _ledger(st).list_users()
    for user in users:
        out.print(f"{user.email}  {user.role.value}  since {user.created_at:%Y-%m-%d}")
    if not users:
        out.print("no organisers yet: add one with `campaign users add EMAIL --role admin`")


@users_app.command("remove")
def users_remove(email: str = typer.Argument(..., help="The organiser's email address.")) -> None:
    """Remove an organiser: their sessions and unused sign-in links stop working at once.

    Example: campaign users remove ed@example.org
    """
    from campaign.clock import utcnow
    from campaign.ledger.states import AuditTag

    address = _address(email)
    with closing(store()) as st:
        ledger = _ledger(st)
        user = ledger.remove_user(address, at=utcnow())
        if user is None:
            raise InvalidInput(
                Problem("argument", None, "EMAIL", f"{address} has no studio account", "see `campaign users list`")
            )
        ledger.record_event(AuditTag.USER_REMOVED, at=utcnow(), client=CLI_CLIENT, user_id=user.id, email=user.email)
    out.print(f"removed {user.email}; their sessions and links are revoked")


@users_app.command("link")
def users_link(email: str = typer.Argument(..., help="The organiser's email address.")) -> None:
    """Print a single-use sign-in link (valid 15 minutes) for an organiser, for an operator with shell access.

    Example: campaign users link ed@example.org
    """
    from campaign.clock import utcnow
    from campaign.ledger.states import AuditTag
    from campaign.studio.app import studio_url

    address = _address(email)
    s = settings()
    with closing(store(s)) as st:
        ledger = _ledger(st)
        user = ledger.user_by_email(address)
        if user is None:
            raise InvalidInput(
                Problem(
                    "argument", None, "EMAIL", f"{address} has no studio account", "add it with `campaign users add`"
                )
            )
        token = secrets.token_urlsafe(32)
        expires = ledger.add_signin_link(user.id, token, at=utcnow())
        ledger.record_event(
            AuditTag.SIGNIN_LINK_ISSUED, at=utcnow(), client=CLI_CLIENT, user_id=user.id, email=user.email
        )
    out.print(f"{studio_url(s)}/studio/signin/{token}")
    err.print(f"valid once, until {expires:%H:%M} UTC")


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    text = raw.strip()
    if text[-1:] in ("h", "d") and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(hours=int(text[:-1]) * (24 if text[-1] == "d" else 1))
    try:
        moment = (
            datetime.fromisoformat(text)
            if "T" in text or " " in text
            else datetime.combine(date.fromisoformat(text), datetime.min.time())
        )
    except ValueError:
        raise InvalidInput(
            Problem(
                "argument",
                None,
                "--since",
                f"{raw!r} is not a date, time or age",
                "write 2027-09-11, 2027-09-11T23:00 or 24h / 7d",
            )
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def audit(
    since: Optional[str] = typer.Option(
        None, "--since", help="Only events from then on: 2027-09-11, an ISO time, or 24h / 7d."
    ),
) -> None:
    """Print the studio's audit log: sign-ins, link requests, saves, approvals, restores, user changes.

    Example: campaign audit --since 7d
    """
    import json

    moment = _since(since)
    with closing(store()) as st:
        events = _ledger(st).audit_events(since=moment)
    for e in events:
        extra = json.dumps(e.additional, sort_keys=True, ensure_ascii=False) if e.additional else ""
        out.print(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.tag}  {e.email or '-'}  {e.client or '-'}  {extra}".rstrip())


@app.command()
def studio(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Keep 127.0.0.1 behind a reverse proxy."),
    port: int = typer.Option(8001, min=0, max=65535, help="Port to listen on (0: any free port)."),
) -> None:
    """Serve the organisers' studio: edit, check, preview and approve the series in the browser.

    Example: campaign studio --host 127.0.0.1 --port 8001
    """
    import waitress

    from campaign.cli.web import is_loopback
    from campaign.studio.app import create_studio_app, studio_url
    from campaign.web import server_options

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    s = settings()
    if not is_loopback(host):
        s.require_real_secret(f"`campaign studio` on {host} signs its session cookies")
        warn(f"the studio listens on {host}: publish it only behind an https reverse proxy with its own hostname")
    st = store(s)
    application = create_studio_app(s, st)
    server = waitress.create_server(application, host=host, port=port, threads=8, **server_options(s))
    out.print(
        f"serving the studio on http://{host}:{server.effective_port}/studio/ (links in sign-in emails use {studio_url(s)}); stop with Ctrl+C"
    )
    sys.stdout.flush()

    def _stop(signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        application.extensions["studio"].mailer.close()
        st.close()
    err.print("stopped", markup=False)
