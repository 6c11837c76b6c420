"""`campaign serve`: the subscriber web pages (or, with --preview, the organiser's preview), served by waitress.

Registered on `campaign.cli.app.app` when `campaign.cli` is imported.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys

import typer

from campaign.cli.app import app, err, out, settings, store
from campaign.config import warn

DEFAULT_HOST = "127.0.0.1"
THREADS = 8


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str = typer.Option(DEFAULT_HOST, help="Address to listen on. Keep 127.0.0.1 behind a reverse proxy."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on (0: any free port)."),
    preview: bool = typer.Option(
        False,
        "--preview",
        help="Serve the organiser's preview instead: every day rendered fresh "
        "from schedule.yaml, content/ and templates/ on each request.",
    ),
) -> None:
    """Serve the web pages: one-click unsubscribe, archive, sign-up, provider webhooks (or --preview).

    Example: campaign serve --host 127.0.0.1 --port 8000
    """
    import waitress

    from campaign.web import create_app, server_options
    from campaign.web.context import SiteContext

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    s = settings()
    local = is_loopback(host)
    st = None
    if preview:
        if not local:
            warn(f"the preview on {host} shows unsent issues to anyone who can reach it; keep it on 127.0.0.1")
        from campaign.ledger.migrate import ledger_exists

        st = store(s) if ledger_exists(s.database_url) else None  # sent days are previewed as sent
        application = create_app(s, st, preview=True)
    else:
        if not local:
            s.require_real_secret(f"`campaign serve` on {host} signs unsubscribe and confirmation links")
            if not s.public_url.startswith("https://"):
                warn(
                    f"CAMPAIGN_PUBLIC_URL is {s.public_url}: mail clients only honour one-click unsubscribe over https"
                )
        st = store(s)
        application = create_app(s, st)
    server = waitress.create_server(application, host=host, port=port, threads=THREADS, **server_options(s))
    what = "preview" if preview else "web pages"
    out.print(
        f"serving the {what} on http://{host}:{server.effective_port}/ "
        f"(links in emails use {s.public_url}); stop with Ctrl+C",
        markup=False,
    )
    sys.stdout.flush()

    def _stop(signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()  # returns (or raises KeyboardInterrupt) on Ctrl+C and SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        context = application.extensions["campaign"]
        if isinstance(context, SiteContext):
            context.mailer.close()  # let queued confirmation emails go out
            if context.data_mailer is not None:
                context.data_mailer.close()
        if st is not None:
            st.close()
    err.print("stopped", markup=False)
