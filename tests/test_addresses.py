"""Issue 8 #1/#2: addresses and names end to end — IDN domains, accented local parts, names with line breaks —
through the real CLI, the outbox, the four fake HTTP providers and aiosmtpd (with and without SMTPUTF8)."""

from __future__ import annotations

import csv
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from campaign.ledger.addresses import clean_name, normalise_email, wire_address
from campaign.series.merge import merge
from tests.conftest import CampaignDir
from tests.provider_servers import FakeMailgun, FakePostmark, FakeResend, FakeSendGrid, go_live

IDN = "ana@bücher.de"
IDN_WIRE = "ana@xn--bcher-kva.de"
ACCENTED = "josé@example.org"
CRLF_NAME = "Eve\r\nBcc: victim@example.com"


# -- the rules -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ann\r\nBcc: x@example.com", "Ann Bcc: x@example.com"),
        ("Ann\x00Lee", "Ann Lee"),
        ("Ann\u0085Lee", "Ann Lee"),
        ("Ann\u2028Lee\u2029", "Ann Lee"),
        ("\u202eAnn\u200b\ufeff", "Ann"),  # bidi override, zero-width space, BOM: removed
        ("  Zoë   O'Brien\t", "Zoë O'Brien"),
        ("Zoe\u0308", "Zoë"),  # NFC
        ("\r\n\t", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_name_rule(raw, clean):
    assert clean_name(raw) == clean


def test_a_name_over_200_characters_is_refused():
    with pytest.raises(ValueError, match="200"):
        clean_name("x" * 201)


def test_normalised_forms():
    assert normalise_email(" Ana@BÜCHER.de ") == IDN
    assert normalise_email("ana@xn--bcher-kva.de") == IDN  # the same subscriber either way
    assert wire_address(IDN) == IDN_WIRE and wire_address("a@example.org") == "a@example.org"
    assert normalise_email(ACCENTED, utf8_local=True) == ACCENTED
    with pytest.raises(ValueError, match="non-ASCII local part"):
        normalise_email(ACCENTED)
    with pytest.raises(ValueError, match="control"):
        normalise_email("ann@exa\u200bmple.org")


def test_one_merge_substitutes_once():
    html, text = merge(
        "<p>Hi __NAME_HTML__</p><a href='__UNSUBSCRIBE_URL__'>x</a>",
        "Hi __NAME__ __UNSUBSCRIBE_URL__",
        unsubscribe_url="https://x.example/u?a=1&b=2",
        name="<__NAME__>",
    )
    assert html == "<p>Hi &lt;__NAME__&gt;</p><a href='https://x.example/u?a=1&amp;b=2'>x</a>"
    assert text == "Hi <__NAME__> https://x.example/u?a=1&b=2"  # a value is never substituted again


# -- the acceptance list -------------------------------------------------------------------------------
def write_list(cdir: CampaignDir) -> None:
    """1,200 rows: 1,197 ordinary readers, an IDN address with a name (line 12), an accented local part
    (line 22) and a name holding CR/LF (line 32, a quoted cell over two lines)."""
    rows = [{"email": f"reader{i:05d}@example.org", "name": f"Reader {i}"} for i in range(1, 1198)]
    rows.insert(10, {"email": "Ana@Bücher.de", "name": "Müller, Ana"})
    rows.insert(20, {"email": ACCENTED, "name": "José"})
    rows.insert(30, {"email": "eve@example.org", "name": CRLF_NAME})
    with (cdir.root / "list.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["email", "name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def import_and_send(cdir: CampaignDir, env: dict | None = None) -> tuple[str, str]:
    imported = cdir.run("subscribers", "import", "list.csv", env=env)
    assert imported.returncode == (0 if " 0 rejected" in imported.stdout else 2), (
        imported.stderr
    )  # exit 2: a row refused
    sent = cdir.run("send", "1", "--yes", env=env, check=True)
    status = cdir.run("status", env=env, check=True)
    day_one = next(line for line in status.stdout.splitlines() if "01 Sep" in line)
    assert day_one.rstrip(" │").endswith("0"), day_one  # the Unknown column
    assert "Traceback" not in imported.stderr + sent.stderr
    return imported.stdout + imported.stderr, sent.stdout


@pytest.mark.slow
def test_outbox_delivers_all_1200_idn_in_punycode_and_the_accented_one_as_smtputf8(campaign_dir):
    write_list(campaign_dir)
    imported, sent = import_and_send(campaign_dir)
    assert "1200 added" in imported and "0 rejected" in imported
    assert "sent 1200, failed 0, rejected 0" in sent
    files = {p.name.split("-", 1)[1]: p for p in campaign_dir.outbox.rglob("*.eml")}
    assert len(files) == 1200
    idn = message_from_bytes(files["ana@b_cher.de.eml"].read_bytes(), policy=policy.default)
    assert idn["To"].addresses[0].addr_spec == IDN_WIRE and idn["To"].addresses[0].display_name == "Müller, Ana"
    raw = files["jos_@example.org.eml"].read_bytes()
    assert "To: José <josé@example.org>".encode() in raw  # RFC 6532 UTF-8 header
    eve = files["eve@example.org.eml"].read_bytes()
    headers = eve.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert b'To: "Eve Bcc: victim@example.com" <eve@example.org>' in headers
    assert not any(h.startswith(b"Bcc") for h in headers)
    for path in files.values():
        body = path.read_bytes().split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76


HTTP = {
    "postmark": (FakePostmark, lambda s: {"POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": s.url}),
    "sendgrid": (FakeSendGrid, lambda s: {"SENDGRID_API_KEY": "test-key", "SENDGRID_API_URL": s.url}),
    "mailgun": (
        FakeMailgun,
        lambda s: {"MAILGUN_API_KEY": "test-key", "MAILGUN_DOMAIN": "mg.example.org", "MAILGUN_API_URL": s.url},
    ),
    "resend": (FakeResend, lambda s: {"RESEND_API_KEY": "test-key", "RESEND_API_URL": s.url}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HTTP))
def test_http_providers_refuse_the_accented_address_at_import_and_deliver_everyone_else(campaign_dir, name):
    go_live(campaign_dir)
    write_list(campaign_dir)
    server_class, credentials = HTTP[name]
    with server_class() as server:
        env = {"CAMPAIGN_PROVIDER": name, **credentials(server)}
        imported, sent = import_and_send(campaign_dir, env)
        assert "1199 added" in imported and "1 rejected" in imported
        assert "list.csv:22: email:" in imported and "non-ASCII local part" in imported
        assert "sent 1199, failed 0, rejected 0" in sent
        counts = server.counts()
        assert sum(counts.values()) == 1199 and set(counts.values()) == {1}
        assert counts[IDN_WIRE] == 1 and not any("é" in a for a in counts)
        eve = next(d for d in server.delivered if d.to == "eve@example.org")
        assert "Eve Bcc" in eve.html or "Eve Bcc" in eve.text  # the cleaned name, greeted
        if name == "sendgrid":
            assert server.dropped == []
            ana = next(d for d in server.delivered if d.to == IDN_WIRE)
            assert ana.extra["name"] == '"Müller, Ana"'  # quoted: SendGrid drops a bare `,` or `;`
        if name in ("postmark", "resend"):
            to = [m["To"] if name == "postmark" else m["to"][0] for r in server.requests for m in r.json]
            assert f'"Müller, Ana" <{IDN_WIRE}>' in to  # plain UTF-8, quoted, not RFC 2047


@pytest.mark.slow
def test_an_accented_address_already_stored_is_rejected_alone_by_an_http_provider(campaign_dir):
    go_live(campaign_dir)
    write_list(campaign_dir)
    campaign_dir.run("subscribers", "import", "list.csv", check=True)  # outbox configured: accepted
    with FakePostmark() as server:
        env = {"CAMPAIGN_PROVIDER": "postmark", **HTTP["postmark"][1](server)}
        sent = campaign_dir.run("send", "1", "--yes", env=env, check=True)
        assert "sent 1199, failed 0, rejected 1" in sent.stdout
        assert sum(server.counts().values()) == 1199
    rows = {r.email: r for r in campaign_dir.store().deliveries_for(campaign_dir.project().schedule.dates[0])}
    assert rows[ACCENTED].status == "rejected" and "non-ASCII local part" in rows[ACCENTED].error
    assert {r.status for e, r in rows.items() if e != ACCENTED} == {"sent"}


# -- SMTP, with and without SMTPUTF8 ------------------------------------------------------------------
class Inbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, envelope.mail_options))
        return "250 2.0.0 queued"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("smtputf8", [True, False])
def test_smtp_sends_the_accented_address_only_when_the_server_advertises_smtputf8(campaign_dir, smtputf8):
    go_live(campaign_dir)
    write_list(campaign_dir)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        env = {
            "CAMPAIGN_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(controller.port),
            "SMTP_SECURITY": "none",
        }
        campaign_dir.edit_schedule("  default_country: US", "  default_country: US\n  rate_limit: 100000")
        imported = campaign_dir.run("subscribers", "import", "list.csv", env=env, check=True)
        assert "1200 added" in imported.stdout  # SMTP may deliver it: accepted at import
        sent = campaign_dir.run("send", "1", "--yes", env=env, check=True)
    finally:
        controller.stop()
    by_rcpt = {rcpts[0]: (options, data) for _, rcpts, data, options in inbox.messages}
    assert IDN_WIRE in by_rcpt and "ana@bücher.de" not in by_rcpt
    if smtputf8:
        assert "sent 1200, failed 0, rejected 0" in sent.stdout
        options, data = by_rcpt[ACCENTED]
        assert "SMTPUTF8" in options and "To: José <josé@example.org>".encode() in data
    else:
        assert "sent 1199, failed 0, rejected 1" in sent.stdout and ACCENTED not in by_rcpt
    status = campaign_dir.run("status", env=env, check=True).stdout
    day_one = next(line for line in status.splitlines() if "01 Sep" in line)
    assert day_one.rstrip(" │").endswith("0")
