"""A real `campaign serve` app on 127.0.0.1, in a waitress server thread, for the web tests.

The server binds first (port 0), so its URL can become CAMPAIGN_PUBLIC_URL: links in the emails that the
real `campaign send` writes afterwards then point at this server, as they would in production.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import waitress
from flask import Flask

from campaign.ledger.csv_import import import_subscribers
from campaign.ledger.store import Store
from campaign.web import create_app, server_options
from campaign.web.context import SiteContext
from tests.conftest import CampaignDir  # noqa: F401  (re-exported for the web tests)


@dataclass
class LiveWeb:
    url: str
    app: Flask
    store: Store
    campaign: CampaignDir

    def flush_mail(self, timeout: float = 20) -> None:
        assert self.app.extensions["campaign"].mailer.flush(timeout), "confirmation emails still queued"


@contextmanager
def live_web(campaign: CampaignDir, *, links_to_server: bool = True, env: dict | None = None, **app_kwargs):
    holder: dict[str, Flask] = {}
    campaign.env.update(env or {})
    server = waitress.create_server(
        lambda environ, start: holder["app"](environ, start),
        host="127.0.0.1",
        port=0,
        threads=4,
        **server_options(campaign.settings),
    )
    url = f"http://127.0.0.1:{server.effective_port}"
    if links_to_server:
        campaign.env["CAMPAIGN_PUBLIC_URL"] = url
    store = campaign.store()
    app = create_app(campaign.settings, store, **app_kwargs)
    holder["app"] = app
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield LiveWeb(url, app, store, campaign)
    finally:
        stop_server(server, thread)
        context = app.extensions["campaign"]
        if isinstance(context, SiteContext):
            context.mailer.close()
            if context.data_mailer is not None:
                context.data_mailer.close()
        if store is not None:
            store.close()


def add_subscribers(campaign: CampaignDir, rows: list[dict]) -> None:
    """Import a subscriber list through the library (what `campaign subscribers import` calls), without the
    cost of a CLI start-up in every test."""
    store = campaign.store()
    try:
        report = import_subscribers(store, campaign.write_csv(rows))
    finally:
        store.close()
    assert report.added == len(rows) and not report.rejected


def stop_server(server, thread: threading.Thread) -> None:
    """Stop a waitress server running in a thread. Its loop ends only when no channel is left, and sockets must
    be closed by the loop's own thread (closing them under a running select() fails with EBADF): the worker
    threads stop first, then the trigger runs the closing inside the loop."""
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def close_everything():
        for channel in list(server._map.values()):
            if channel is not server and channel is not server.trigger:
                channel.close()
        server.close()  # the listener and the trigger itself

    try:
        server.trigger.pull_trigger(close_everything)
    except OSError:  # the loop already ended and closed its trigger (EBADF): nothing runs it any more
        thread.join(timeout=5)
        close_everything()
    thread.join(timeout=5)
    assert not thread.is_alive(), "the test server did not stop"


def read_eml(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def parts(message) -> tuple[str, str]:
    """(html, text) of a multipart/alternative message."""
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    return html, text


def eml_for(outbox_day: Path, email_address: str) -> Path:
    matches = sorted(outbox_day.glob(f"*-{email_address}.eml"))
    assert len(matches) == 1, f"expected one .eml for {email_address} in {outbox_day}, found {matches}"
    return matches[0]


def list_unsubscribe_url(message) -> str:
    header = str(message["List-Unsubscribe"])
    match = re.fullmatch(r"\s*<(https?://[^>]+)>\s*", header)
    assert match, f"unexpected List-Unsubscribe header {header!r}"
    return match.group(1)


def path_of(url: str) -> str:
    return urlparse(url).path
