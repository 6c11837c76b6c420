"""`campaign serve`: the subscriber web pages, served by waitress. (The organisers' preview is `campaign studio`.)

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
    preview: bool = typer.Option(False, "--preview", hidden=True, help="Replaced by `campaign studio`."),
) -> None:
    """Serve the web pages: one-click unsubscribe, archive, sign-up, provider webhooks.

    Example: campaign serve --host 127.0.0.1 --port 8000
    """
    import waitress

    from campaign.errors import InvalidInput, Problem
    from campaign.web import create_app, server_options

    if preview:
        raise InvalidInput(
            Problem(
                "argument",
                None,
                "--preview",
                "the read-only preview was replaced by the studio",
                "run `campaign studio` (127.0.0.1:8001): edit, check and preview every day in the browser",
            )
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    s = settings()
    if not is_loopback(host):
        s.require_real_secret(f"`campaign serve` on {host} signs unsubscribe and confirmation links")
        if not s.public_url.startswith("https://"):
            warn(f"CAMPAIGN_PUBLIC_URL is {s.public_url}: mail clients only honour one-click unsubscribe over https")
    st = store(s)
    application = create_app(s, st)
    server = waitress.create_server(application, host=host, port=port, threads=THREADS, **server_options(s))
    out.print(
        f"serving the web pages on http://{host}:{server.effective_port}/ "
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
        context.mailer.close()  # let queued confirmation emails go out
        if context.data_mailer is not None:
            context.data_mailer.close()
        st.close()
    err.print("stopped", markup=False)
