"""SMTP against a real aiosmtpd server: STARTTLS and implicit TLS with a self-signed certificate made here,
AUTH, one connection reused, reconnecting when the server drops it, per-recipient refusals."""

from __future__ import annotations

import socket
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from campaign.config import load_settings
from campaign.delivery.tokens import Tokens
from campaign.errors import AuthenticationFailed, ConfigurationError
from campaign.providers import make_provider
from campaign.series.links import unsubscribe_url
from tests.conftest import TEST_SECRET
from tests.provider_servers import expected_preferences, make_rig, seed_subscribers


class Mailbox:
    """aiosmtpd handler: keeps every message, remembers which connection carried it, and can misbehave."""

    def __init__(self, *, drop_after: int | None = None, refuse: set[str] = frozenset()):
        self.messages: list[tuple[str, list[str], bytes, int]] = []  # (mail from, rcpts, data, connection)
        self.drop_after = drop_after  # close the connection at the MAIL after this many messages
        self.refuse = refuse
        self.dropped = 0
        self.dropped_at = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if (
            self.drop_after is not None
            and len(self.messages)
            and len(self.messages) % self.drop_after == 0
            and self.dropped_at != len(self.messages)
        ):
            self.dropped_at = len(self.messages)
            self.dropped += 1
            server.transport.close()  # an idle timeout / restart on the relay
            return "421 4.4.2 closing connection"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, id(session)))
        return "250 2.0.0 queued"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(certificate):
    started = []

    def start(mailbox: Mailbox, *, implicit_tls: bool = False):
        cert, key = certificate
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        port = _free_port()
        kwargs = dict(authenticator=_authenticator, auth_require_tls=True)
        if implicit_tls:
            # aiosmtpd cannot tell an implicit-TLS session is encrypted, so it would not offer AUTH at all.
            kwargs["auth_require_tls"] = False
            controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=context, **kwargs)
        else:
            controller = Controller(
                mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True, **kwargs
            )
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def smtp_env(port, certificate, *, security="starttls", password="s3cret"):
    return {
        "CAMPAIGN_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": security,
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": password,
        "SMTP_CA_FILE": str(certificate[0]),
    }


def test_starttls_auth_one_connection_and_the_message_each_reader_gets(campaign_dir, smtp_server, certificate):
    mailbox = Mailbox()
    port = smtp_server(mailbox)
    rig = make_rig(campaign_dir, _Nothing(), "smtp", smtp_env(port, certificate))
    ids = seed_subscribers(rig.store, 12)
    report = rig.sender().send_day(rig.day)
    rig.provider.close()
    assert report.sent == 12 and rig.ledger() == {"sent": 12}
    assert len({conn for *_, conn in mailbox.messages}) == 1  # one connection reused
    sender, rcpts, data, _ = mailbox.messages[0]
    assert sender == "hello@example.org" and rcpts == ["reader000001@example.org"]
    message = message_from_bytes(data, policy=policy.default)
    url = unsubscribe_url("https://news.example.org", Tokens(TEST_SECRET).unsubscribe(ids[0]))
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, text = rig.project.render(rig.day).merge(
        unsubscribe_url=url, name="Reader 1", preferences_url=expected_preferences(ids[0], rig.day)
    )

    def same(a: str) -> str:  # transfer encoding turns line ends into CRLF
        return a.replace("\r\n", "\n").strip()

    assert same(message.get_body(("html",)).get_content()) == same(html)
    assert same(message.get_body(("plain",)).get_content()) == same(text)
    rows = rig.rows()
    assert rows["reader000001@example.org"].provider_message_id == message["Message-ID"]


def test_implicit_tls(campaign_dir, smtp_server, certificate):
    mailbox = Mailbox()
    port = smtp_server(mailbox, implicit_tls=True)
    rig = make_rig(campaign_dir, _Nothing(), "smtp", smtp_env(port, certificate, security="ssl"))
    seed_subscribers(rig.store, 3)
    assert rig.sender().send_day(rig.day).sent == 3
    rig.provider.close()
    assert len(mailbox.messages) == 3


def test_reconnects_when_the_server_drops_the_connection(campaign_dir, smtp_server, certificate):
    mailbox = Mailbox(drop_after=4)
    port = smtp_server(mailbox)
    rig = make_rig(campaign_dir, _Nothing(), "smtp", smtp_env(port, certificate))
    seed_subscribers(rig.store, 10)
    report = rig.sender().send_day(rig.day)
    rig.provider.close()
    assert report.sent == 10 and report.unknown == 0 and mailbox.dropped == 2
    recipients = [r for _, rcpts, _, _ in mailbox.messages for r in rcpts]
    assert sorted(recipients) == [f"reader{i:06d}@example.org" for i in range(1, 11)]  # each exactly once
    assert len({conn for *_, conn in mailbox.messages}) == 3


def test_a_refused_recipient_is_rejected_and_the_rest_delivered(campaign_dir, smtp_server, certificate):
    mailbox = Mailbox(refuse={"reader000002@example.org"})
    port = smtp_server(mailbox)
    rig = make_rig(campaign_dir, _Nothing(), "smtp", smtp_env(port, certificate))
    seed_subscribers(rig.store, 3)
    report = rig.sender().send_day(rig.day)
    rig.provider.close()
    assert (report.sent, report.rejected) == (2, 1)
    assert "550" in rig.rows()["reader000002@example.org"].error
    assert len(mailbox.messages) == 2


def test_a_wrong_password_stops_naming_the_settings(campaign_dir, smtp_server, certificate):
    port = smtp_server(Mailbox())
    rig = make_rig(campaign_dir, _Nothing(), "smtp", smtp_env(port, certificate, password="nope"))
    seed_subscribers(rig.store, 3)
    with pytest.raises(AuthenticationFailed) as caught:
        rig.sender().send_day(rig.day)
    assert "SMTP_USERNAME" in str(caught.value) and "SMTP_PASSWORD" in str(caught.value)
    assert "nope" not in str(caught.value)
    assert rig.ledger() == {}


def test_an_untrusted_certificate_is_refused_and_says_how_to_trust_it(campaign_dir, smtp_server, certificate):
    port = smtp_server(Mailbox())
    env = smtp_env(port, certificate)
    del env["SMTP_CA_FILE"]
    rig = make_rig(campaign_dir, _Nothing(), "smtp", env)
    seed_subscribers(rig.store, 2)
    report = rig.sender().send_day(rig.day)
    assert report.sent == 0 and report.failed == 2
    assert "SMTP_CA_FILE" in rig.rows()["reader000001@example.org"].error


def test_settings_are_checked_before_anything_is_sent(campaign_dir):
    base = campaign_dir.env
    with pytest.raises(ConfigurationError, match="SMTP_HOST"):
        make_provider("smtp", load_settings(campaign_dir.root, base))
    with pytest.raises(ConfigurationError, match="SMTP_PASSWORD"):
        make_provider(
            "smtp", load_settings(campaign_dir.root, {**base, "SMTP_HOST": "mail.example.org", "SMTP_USERNAME": "u"})
        )
    with pytest.raises(ConfigurationError, match="SMTP_SECURITY"):
        make_provider(
            "smtp",
            load_settings(campaign_dir.root, {**base, "SMTP_HOST": "mail.example.org", "SMTP_SECURITY": "tls13"}),
        )
    with pytest.raises(ConfigurationError, match="unencrypted"):
        make_provider(
            "smtp",
            load_settings(
                campaign_dir.root,
                {
                    **base,
                    "SMTP_HOST": "mail.example.org",
                    "SMTP_SECURITY": "none",
                    "SMTP_USERNAME": "u",
                    "SMTP_PASSWORD": "p",
                },
            ),
        )


class _Nothing:
    """make_rig wants a server; SMTP tests bring their own."""

    url = ""
