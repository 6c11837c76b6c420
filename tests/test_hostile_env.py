"""Issue 8 #3/#4: hostile environment variables through the real `campaign send` — every one refused before
anything is claimed or sent: exit 2, the variable named with a fix, no traceback, an empty ledger.

Also `preflight_problems` (what `validate`/`check` report): every problem at once.
"""

from __future__ import annotations

import pytest

from campaign.config import load_settings
from campaign.errors import ConfigurationError
from campaign.providers import preflight_problems
from tests.provider_servers import go_live, seed_subscribers

POSTMARK = {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "test-key"}
SENDGRID = {"CAMPAIGN_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "SG.test"}
MAILGUN = {"CAMPAIGN_PROVIDER": "mailgun", "MAILGUN_API_KEY": "key-test", "MAILGUN_DOMAIN": "mg.example.org"}
RESEND = {"CAMPAIGN_PROVIDER": "resend", "RESEND_API_KEY": "re_test"}
SMTP = {"CAMPAIGN_PROVIDER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_SECURITY": "none", "SMTP_PORT": "2525"}

# (id, environment, the variable the message must name, a fragment of the reason)
CASES = [
    ("port-out-of-range", {**POSTMARK, "POSTMARK_API_URL": "http://127.0.0.1:99999"}, "POSTMARK_API_URL", "port"),
    ("port-zero", {**POSTMARK, "POSTMARK_API_URL": "http://127.0.0.1:0"}, "POSTMARK_API_URL", "port 0"),
    ("port-not-a-number", {**POSTMARK, "POSTMARK_API_URL": "http://127.0.0.1:80a"}, "POSTMARK_API_URL", "port"),
    ("ftp-scheme", {**POSTMARK, "POSTMARK_API_URL": "ftp://127.0.0.1"}, "POSTMARK_API_URL", "http(s)"),
    ("no-host", {**POSTMARK, "POSTMARK_API_URL": "https://"}, "POSTMARK_API_URL", "http(s)"),
    ("broken-ipv6", {**POSTMARK, "POSTMARK_API_URL": "http://[::1"}, "POSTMARK_API_URL", "not a URL"),
    ("space-in-url", {**POSTMARK, "POSTMARK_API_URL": "http://127.0.0.1:8025 /x"}, "POSTMARK_API_URL", "whitespace"),
    ("newline-in-url", {**POSTMARK, "POSTMARK_API_URL": "http://127.0.0.1:8025\n"}, "POSTMARK_API_URL", "whitespace"),
    (
        "plain-http-remote",
        {**POSTMARK, "POSTMARK_API_URL": "http://api.postmarkapp.com"},
        "POSTMARK_API_URL",
        "unencrypted",
    ),
    (
        "credentials-in-url",
        {**POSTMARK, "POSTMARK_API_URL": "https://u:p@api.example.com"},
        "POSTMARK_API_URL",
        "credentials",
    ),
    ("query-in-url", {**POSTMARK, "POSTMARK_API_URL": "https://api.example.com/?a=1"}, "POSTMARK_API_URL", "query"),
    ("token-unset", {"CAMPAIGN_PROVIDER": "postmark"}, "POSTMARK_SERVER_TOKEN", "not set"),
    ("token-line-break", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "abc\ndef"}, "POSTMARK_SERVER_TOKEN", "line break"),
    ("token-trailing-crlf", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "abc\r\n"}, "POSTMARK_SERVER_TOKEN", "line break"),
    ("token-space", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "abc def"}, "POSTMARK_SERVER_TOKEN", "whitespace"),
    ("token-only-spaces", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "   "}, "POSTMARK_SERVER_TOKEN", "whitespace"),
    ("token-non-ascii", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "tökén"}, "POSTMARK_SERVER_TOKEN", "non-ASCII"),
    ("token-escape-char", {**POSTMARK, "POSTMARK_SERVER_TOKEN": "abc\x1b[2J"}, "POSTMARK_SERVER_TOKEN", "control"),
    ("sendgrid-key-newline", {**SENDGRID, "SENDGRID_API_KEY": "SG.x\n"}, "SENDGRID_API_KEY", "line break"),
    (
        "sendgrid-url-port",
        {**SENDGRID, "SENDGRID_API_URL": "https://api.sendgrid.com:70000"},
        "SENDGRID_API_URL",
        "port",
    ),
    ("mailgun-domain-newline", {**MAILGUN, "MAILGUN_DOMAIN": "mg.example.org\n"}, "MAILGUN_DOMAIN", "line break"),
    ("mailgun-key-tab", {**MAILGUN, "MAILGUN_API_KEY": "key\tx"}, "MAILGUN_API_KEY", "whitespace"),
    ("mailgun-domain-unset", {"CAMPAIGN_PROVIDER": "mailgun", "MAILGUN_API_KEY": "k"}, "MAILGUN_DOMAIN", "not set"),
    ("mailgun-url-no-host", {**MAILGUN, "MAILGUN_API_URL": "http://"}, "MAILGUN_API_URL", "http(s)"),
    ("resend-key-space", {**RESEND, "RESEND_API_KEY": "re_ test"}, "RESEND_API_KEY", "whitespace"),
    ("resend-url-fragment", {**RESEND, "RESEND_API_URL": "https://api.resend.com#x"}, "RESEND_API_URL", "fragment"),
    ("smtp-host-unset", {"CAMPAIGN_PROVIDER": "smtp"}, "SMTP_HOST", "not set"),
    ("smtp-port-out-of-range", {**SMTP, "SMTP_PORT": "99999"}, "SMTP_PORT", "port"),
    ("smtp-port-not-a-number", {**SMTP, "SMTP_PORT": "abc"}, "SMTP_PORT", "port"),
    ("smtp-port-negative", {**SMTP, "SMTP_PORT": "-25"}, "SMTP_PORT", "port"),
    ("smtp-security-unknown", {**SMTP, "SMTP_SECURITY": "tls"}, "SMTP_SECURITY", "unknown"),
    ("smtp-ca-file-missing", {**SMTP, "SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE", "ca.pem"),
    ("smtp-user-without-password", {**SMTP, "SMTP_USERNAME": "mailer"}, "SMTP_PASSWORD", "not set"),
    (
        "smtp-password-in-clear",
        {**SMTP, "SMTP_HOST": "relay.example.net", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"},
        "SMTP_SECURITY",
        "unencrypted",
    ),
    ("unknown-provider", {"CAMPAIGN_PROVIDER": "carrier-pigeon"}, "CAMPAIGN_PROVIDER", "unknown provider"),
    ("short-secret-key", {**POSTMARK, "CAMPAIGN_SECRET_KEY": "too-short"}, "CAMPAIGN_SECRET_KEY", "32"),
    (
        "dev-secret-key",
        {**POSTMARK, "CAMPAIGN_SECRET_KEY": "dev-only-unsafe-signing-key"},
        "CAMPAIGN_SECRET_KEY",
        "key",
    ),
    ("public-url-ftp", {"CAMPAIGN_PUBLIC_URL": "ftp://news.example.org"}, "CAMPAIGN_PUBLIC_URL", "http(s)"),
    (
        "public-url-plain-http",
        {**POSTMARK, "CAMPAIGN_PUBLIC_URL": "http://news.mindmatters-campaign.org"},
        "CAMPAIGN_PUBLIC_URL",
        "https",
    ),
]


@pytest.fixture
def live(campaign_dir):
    go_live(campaign_dir)
    store = campaign_dir.store()
    seed_subscribers(store, 3)
    store.close()
    return campaign_dir


@pytest.mark.parametrize(("env", "variable", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_setting_stops_send_before_anything_is_claimed(live, env, variable, reason):
    result = live.run("send", "1", "--yes", env=env, timeout=60)
    message = " ".join(result.stderr.split())
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{variable}:" in message and reason in message, message
    assert " — " in message  # with the fix
    store = live.store()
    try:
        assert list(store.deliveries_for(live.project().schedule.dates[0])) == []
    finally:
        store.close()
    assert not live.outbox.exists() or not list(live.outbox.rglob("*.eml"))


@pytest.mark.parametrize(("env", "variable", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_preflight_finds_the_same_problem(live, env, variable, reason):
    if env.get("CAMPAIGN_PUBLIC_URL", "").startswith("ftp"):  # refused as soon as the settings are read
        with pytest.raises(ConfigurationError) as err:
            load_settings(live.root, {**live.env, **env})
        assert any(p.field == variable and reason in p.message for p in err.value.problems), err.value.problems
        return
    settings = load_settings(live.root, {**live.env, **env})
    problems = preflight_problems(settings, live.project().schedule.campaign)
    assert any(p.field == variable and reason in p.message for p in problems), problems


def test_preflight_reports_every_problem_at_once(live, tmp_path):
    env = {
        **live.env,
        "CAMPAIGN_PROVIDER": "mailgun",
        "MAILGUN_API_KEY": "key\n",
        "MAILGUN_API_URL": "http://127.0.0.1:99999",
        "CAMPAIGN_SECRET_KEY": "short",
        "CAMPAIGN_PUBLIC_URL": "http://news.mindmatters-campaign.org",
    }
    problems = preflight_problems(load_settings(live.root, env), live.project().schedule.campaign)
    assert {p.field for p in problems} == {
        "MAILGUN_API_KEY",
        "MAILGUN_DOMAIN",
        "MAILGUN_API_URL",
        "CAMPAIGN_SECRET_KEY",
        "CAMPAIGN_PUBLIC_URL",
    }
    ok = {**live.env, **MAILGUN}
    assert preflight_problems(load_settings(live.root, ok), live.project().schedule.campaign) == []


def test_preflight_finds_an_outbox_that_cannot_be_written(live, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = load_settings(live.root, {**live.env, "CAMPAIGN_OUTBOX": str(blocker / "outbox")})
    problems = preflight_problems(settings, live.project().schedule.campaign)
    assert [p.field for p in problems] == ["CAMPAIGN_OUTBOX"] and "not a folder" in problems[0].message
