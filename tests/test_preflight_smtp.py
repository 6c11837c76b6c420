"""The SMTP probe against a real aiosmtpd server: connect, STARTTLS, AUTH, QUIT — and nothing sent."""

from __future__ import annotations

import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from campaign.config import load_settings
from campaign.preflight.probes import probe_provider
from campaign.series.project import load_project


class Mailbox:
    def __init__(self):
        self.commands: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.commands.append("DATA")
        return "250 queued"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def relay(certificate):
    started = []

    def start(*, tls: bool = True):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        port = _port()
        mailbox = Mailbox()
        kw = {"tls_context": context, "require_starttls": True} if tls else {"auth_require_tls": False}
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=_auth, **kw)
        controller.start()
        started.append(controller)
        return port, mailbox

    yield start
    for controller in started:
        controller.stop()


def probe(campaign_dir, port, certificate, **env):
    environ = {
        **campaign_dir.env,
        "CAMPAIGN_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": "s3cret",
        "SMTP_CA_FILE": str(certificate[0]),
        **env,
    }
    environ = {k: v for k, v in environ.items() if v is not None}
    settings = load_settings(campaign_dir.root, environ)
    return probe_provider(settings, load_project(settings), "smtp")


def test_smtp_probe_logs_in_over_starttls_and_sends_nothing(campaign_dir, relay, certificate):
    port, mailbox = relay()
    report = probe(campaign_dir, port, certificate)
    assert report.errors == [] and "connect, TLS, AUTH, QUIT" in report.passed[0]
    assert mailbox.commands == []


def test_smtp_probe_names_the_password(campaign_dir, relay, certificate):
    port, _ = relay()
    report = probe(campaign_dir, port, certificate, SMTP_PASSWORD="wrong")
    assert [p.field for p in report.errors] == ["SMTP_PASSWORD"] and "535" in str(report.errors[0])


def test_smtp_probe_untrusted_certificate(campaign_dir, relay, certificate):
    port, _ = relay()
    report = probe(campaign_dir, port, certificate, SMTP_CA_FILE=None)
    assert [p.field for p in report.errors] == ["SMTP_CA_FILE"]


def test_smtp_probe_relay_without_starttls(campaign_dir, relay, certificate):
    port, _ = relay(tls=False)
    report = probe(campaign_dir, port, certificate)
    assert [p.field for p in report.errors] == ["SMTP_SECURITY"] and "does not offer STARTTLS" in str(report.errors[0])


def test_smtp_probe_nobody_listening(campaign_dir, certificate):
    report = probe(campaign_dir, _port(), certificate)
    assert [p.field for p in report.errors] == ["SMTP_HOST"] and "connect" in str(report.errors[0])
