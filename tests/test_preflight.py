"""The go-live checks in-process: placeholders, provider probes against the fake providers' read-only
endpoints, and DNS answered by a real local DNS server."""

from __future__ import annotations

import re

import pytest

from campaign.config import load_settings
from campaign.errors import ConfigurationError
from campaign.preflight import offline_problems, require_go_live
from campaign.preflight.dns_records import check_dns
from campaign.preflight.placeholders import is_reserved_host
from campaign.preflight.probes import probe_provider
from campaign.series.project import load_project
from tests.dns_server import DNSServer, good_zone
from tests.probe_servers import GO_LIVE_DOMAIN, ProbedMailgun, ProbedPostmark, ProbedResend, ProbedSendGrid, go_live

LONG_SECRET = "a-long-random-secret-key-of-40-characters!"


def load(campaign_dir, **env):
    environ = {**campaign_dir.env, **env}
    environ = {k: v for k, v in environ.items() if v is not None}
    settings = load_settings(campaign_dir.root, environ)
    return settings, load_project(settings)


def fields(problems) -> list[str]:
    return [p.field for p in problems]


# -- offline ----------------------------------------------------------------------------------------
def test_every_placeholder_is_reported_at_once(campaign_dir):
    s, p = load(
        campaign_dir,
        CAMPAIGN_PUBLIC_URL=None,
        CAMPAIGN_SECRET_KEY=None,
        CAMPAIGN_PROVIDER="postmark",
        POSTMARK_SERVER_TOKEN="tok",
    )
    problems = offline_problems(s, p)
    assert fields(problems) == [
        "CAMPAIGN_PUBLIC_URL",
        "campaign.from",
        "campaign.reply_to",
        "campaign.postal_address",
        "CAMPAIGN_SECRET_KEY",
    ]
    text = "\n".join(str(x) for x in problems)
    assert re.search(r"schedule.yaml:\d+: campaign.postal_address: is still the placeholder", text)
    assert "https://campaign.example.org" in text and "export CAMPAIGN_PUBLIC_URL=" in text
    with pytest.raises(ConfigurationError) as refused:
        require_go_live(s, p)
    assert len(refused.value.problems) == len(problems) + 1
    assert "refusing to send real email through postmark" in refused.value.lines()[-1]


def test_outbox_never_refuses_but_the_problems_are_the_same(campaign_dir):
    s, p = load(campaign_dir, CAMPAIGN_PUBLIC_URL=None, CAMPAIGN_SECRET_KEY=None)
    require_go_live(s, p)  # the outbox: warnings only
    assert "CAMPAIGN_PUBLIC_URL" in fields(offline_problems(s, p))


def test_a_ready_campaign_has_no_offline_problem(campaign_dir):
    env = go_live(campaign_dir)
    s, p = load(
        campaign_dir, **env, CAMPAIGN_SECRET_KEY=LONG_SECRET, CAMPAIGN_PROVIDER="postmark", POSTMARK_SERVER_TOKEN="t"
    )
    assert offline_problems(s, p) == []
    require_go_live(s, p)


@pytest.mark.parametrize(
    ("env", "field", "words"),
    [
        ({"CAMPAIGN_SECRET_KEY": "short-key"}, "CAMPAIGN_SECRET_KEY", "only 9 characters"),
        ({"CAMPAIGN_PUBLIC_URL": "http://news.mind-matters-news.net"}, "CAMPAIGN_PUBLIC_URL", "not https"),
        ({"CAMPAIGN_PUBLIC_URL": "https://news.example.com"}, "CAMPAIGN_PUBLIC_URL", "reserved"),
        ({"CAMPAIGN_PUBLIC_URL": "https://127.0.0.1:8000"}, "CAMPAIGN_PUBLIC_URL", "reserved"),
        ({"POSTMARK_SERVER_TOKEN": None}, "POSTMARK_SERVER_TOKEN", "not set"),
    ],
)
def test_each_weak_setting_is_named(campaign_dir, env, field, words):
    base = go_live(campaign_dir)
    s, p = load(
        campaign_dir,
        **{
            **base,
            "CAMPAIGN_SECRET_KEY": LONG_SECRET,
            "CAMPAIGN_PROVIDER": "postmark",
            "POSTMARK_SERVER_TOKEN": "t",
            **env,
        },
    )
    problems = offline_problems(s, p)
    assert fields(problems) == [field], problems
    assert words in str(problems[0])


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"support@example.org"', '"help@example.com"', "campaign.reply_to"),
        ("<hello@example.org>", "<hello@news.example.com>", "campaign.from"),
    ],
)
def test_placeholder_senders(campaign_dir, old, new, field):
    env = go_live(campaign_dir)
    text = (campaign_dir.root / "schedule.yaml").read_text()
    text = text.replace(f"hello@{GO_LIVE_DOMAIN}", "hello@example.org").replace(
        f"support@{GO_LIVE_DOMAIN}", "support@example.org"
    )
    (campaign_dir.root / "schedule.yaml").write_text(text.replace(old, new))
    s, p = load(campaign_dir, **env)
    assert field in fields(offline_problems(s, p))


def test_reserved_hosts():
    for host in ("example.org", "a.example.com", "localhost", "x.test", "10.0.0.1", "::1", "news.invalid"):
        assert is_reserved_host(host), host
    for host in ("mind-matters-news.net", "example.org.uk", "samples.org"):
        assert not is_reserved_host(host), host


# -- provider probes ----------------------------------------------------------------------------------
def probe(campaign_dir, name, env):
    base = go_live(campaign_dir)
    s, p = load(campaign_dir, **base, CAMPAIGN_SECRET_KEY=LONG_SECRET, CAMPAIGN_PROVIDER=name, **env)
    return probe_provider(s, p, name)


def test_postmark_probe_accepts_a_good_token_and_a_stream_left_to_us(campaign_dir):
    with ProbedPostmark() as server:
        report = probe(campaign_dir, "postmark", {"POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url})
    assert report.errors == []
    assert any("POSTMARK_SERVER_TOKEN accepted" in line for line in report.passed)
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/server"), ("GET", "/message-streams/broadcast")]


def test_postmark_probe_names_the_token_on_401(campaign_dir):
    with ProbedPostmark(key="the-real-one") as server:
        report = probe(campaign_dir, "postmark", {"POSTMARK_SERVER_TOKEN": "wrong", "POSTMARK_API_URL": server.url})
    assert fields(report.errors) == ["POSTMARK_SERVER_TOKEN"]
    assert "HTTP 401" in str(report.errors[0])


@pytest.mark.parametrize("handling", ["Postmark", "Custom"])
def test_postmark_stream_that_manages_unsubscribes_is_refused(campaign_dir, handling):
    with ProbedPostmark(unsubscribe_handling=handling) as server:
        report = probe(campaign_dir, "postmark", {"POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url})
    assert fields(report.errors) == ["campaign.message_stream"]
    text = str(report.errors[0])
    assert f"UnsubscribeHandlingType={handling!r}" in text and "Manage unsubscribes on your own" in text


def test_postmark_unknown_or_transactional_stream(campaign_dir):
    with ProbedPostmark(stream_type="Transactional") as server:
        report = probe(campaign_dir, "postmark", {"POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url})
    assert "Transactional stream" in str(report.errors[0])
    path = campaign_dir.root / "schedule.yaml"
    path.write_text(path.read_text().replace("  # message_stream: broadcast", '  message_stream: "news"'))
    with ProbedPostmark() as server:
        s, p = load(
            campaign_dir, CAMPAIGN_PROVIDER="postmark", POSTMARK_SERVER_TOKEN="test-key", POSTMARK_API_URL=server.url
        )
        report = probe_provider(s, p, "postmark")
    assert fields(report.errors) == ["campaign.message_stream"] and "no message stream 'news'" in str(report.errors[0])
    assert report.errors[0].line is not None


def test_sendgrid_probe(campaign_dir):
    with ProbedSendGrid() as server:
        ok = probe(campaign_dir, "sendgrid", {"SENDGRID_API_KEY": "test-key", "SENDGRID_API_URL": server.url})
        bad = probe(campaign_dir, "sendgrid", {"SENDGRID_API_KEY": "nope", "SENDGRID_API_URL": server.url})
    assert ok.errors == [] and fields(bad.errors) == ["SENDGRID_API_KEY"]
    with ProbedSendGrid(scopes=["user.profile.read"]) as server:
        weak = probe(campaign_dir, "sendgrid", {"SENDGRID_API_KEY": "test-key", "SENDGRID_API_URL": server.url})
    assert "mail.send" in str(weak.errors[0])
    assert server.requests[0].path == "/v3/scopes"


def test_mailgun_probe(campaign_dir):
    env = {"MAILGUN_API_KEY": "test-key", "MAILGUN_DOMAIN": "mg.example.org"}
    with ProbedMailgun() as server:
        ok = probe(campaign_dir, "mailgun", {**env, "MAILGUN_API_URL": server.url})
        bad = probe(campaign_dir, "mailgun", {**env, "MAILGUN_API_KEY": "x", "MAILGUN_API_URL": server.url})
        region = probe(
            campaign_dir, "mailgun", {**env, "MAILGUN_DOMAIN": "mg.other.net", "MAILGUN_API_URL": server.url}
        )
    assert ok.errors == [] and fields(bad.errors) == ["MAILGUN_API_KEY"]
    assert fields(region.errors) == ["MAILGUN_DOMAIN"] and "api.eu.mailgun.net" in str(region.errors[0])
    with ProbedMailgun(state="unverified") as server:
        pending = probe(campaign_dir, "mailgun", {**env, "MAILGUN_API_URL": server.url})
    assert "unverified" in str(pending.errors[0])


def test_resend_probe(campaign_dir):
    with ProbedResend() as server:
        ok = probe(campaign_dir, "resend", {"RESEND_API_KEY": "test-key", "RESEND_API_URL": server.url})
        bad = probe(campaign_dir, "resend", {"RESEND_API_KEY": "re_wrong", "RESEND_API_URL": server.url})
    assert ok.errors == [] and fields(bad.errors) == ["RESEND_API_KEY"]
    with ProbedResend(domains={GO_LIVE_DOMAIN: "pending"}) as server:
        pending = probe(campaign_dir, "resend", {"RESEND_API_KEY": "test-key", "RESEND_API_URL": server.url})
    assert fields(pending.errors) == ["campaign.from"] and "pending, not verified" in str(pending.errors[0])
    with ProbedResend(send_only=True) as server:
        send_only = probe(campaign_dir, "resend", {"RESEND_API_KEY": "test-key", "RESEND_API_URL": server.url})
    assert send_only.errors == [] and "send-only key" in send_only.passed[0]


def test_unreachable_provider_is_a_problem_not_a_traceback(campaign_dir):
    with ProbedPostmark() as server:
        url = server.url
    report = probe(campaign_dir, "postmark", {"POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": url})
    assert fields(report.errors) == ["POSTMARK_API_URL"] and "cannot reach postmark" in str(report.errors[0])


# -- DNS -------------------------------------------------------------------------------------------------
def dns_report(campaign_dir, zone, provider="postmark", **env):
    base = go_live(campaign_dir)
    with DNSServer(zone) as server:
        s, p = load(campaign_dir, **base, CAMPAIGN_DNS_SERVER=server.address, **env)
        return check_dns(s, p, provider), server


def test_dns_good_domain(campaign_dir):
    report, server = dns_report(campaign_dir, good_zone(GO_LIVE_DOMAIN), CAMPAIGN_DKIM_SELECTOR="pm1")
    assert report.errors == [], report.errors
    assert [line.split(":")[1].strip().split()[0] for line in report.passed] == ["SPF", "DKIM", "DMARC"]
    assert (f"pm1._domainkey.{GO_LIVE_DOMAIN}.", "TXT") in server.queries


def test_dns_missing_records_say_what_gmail_and_yahoo_require(campaign_dir):
    report, _ = dns_report(campaign_dir, {GO_LIVE_DOMAIN: [("TXT", "unrelated")]}, CAMPAIGN_DKIM_SELECTOR="pm1")
    assert len(report.errors) == 3
    assert all("Gmail and Yahoo require" in str(e) for e in report.errors)
    assert [e.field for e in report.errors] == [
        f"{GO_LIVE_DOMAIN} TXT",
        f"pm1._domainkey.{GO_LIVE_DOMAIN} TXT",
        f"_dmarc.{GO_LIVE_DOMAIN} TXT",
    ]


def test_dns_selector_is_required_where_the_provider_has_no_fixed_one(campaign_dir):
    report, _ = dns_report(campaign_dir, good_zone(GO_LIVE_DOMAIN))
    assert fields(report.errors) == ["CAMPAIGN_DKIM_SELECTOR"]


def test_dns_sendgrid_cname_and_bad_dmarc(campaign_dir):
    zone = good_zone(GO_LIVE_DOMAIN, dmarc="v=DMARC1; rua=mailto:d@x.net")
    zone[f"s1._domainkey.{GO_LIVE_DOMAIN}"] = [("CNAME", "s1.domainkey.u1.wl1.sendgrid.net")]
    zone[f"s2._domainkey.{GO_LIVE_DOMAIN}"] = [("CNAME", "s2.domainkey.u1.wl1.sendgrid.net")]
    zone["s1.domainkey.u1.wl1.sendgrid.net"] = [("TXT", "k=rsa; t=s; p=MIGfMA0GCSqGSIb3DQEB")]
    zone["s2.domainkey.u1.wl1.sendgrid.net"] = [("TXT", "k=rsa; p=")]
    report, _ = dns_report(campaign_dir, zone, provider="sendgrid")
    messages = [str(e) for e in report.errors]
    assert any("revoked" in m and "s2._domainkey" in m for m in messages)
    assert any("no valid p= policy" in m for m in messages)
    assert any("selector 's1'" in line for line in report.passed)


def test_dns_two_spf_records_and_dmarc_at_the_parent(campaign_dir):
    zone = good_zone(GO_LIVE_DOMAIN)
    zone[GO_LIVE_DOMAIN] += [("TXT", "v=spf1 -all")]
    report, _ = dns_report(campaign_dir, zone, CAMPAIGN_DKIM_SELECTOR="pm1")
    assert "2 SPF records" in str(report.errors[0]) and len(report.errors) == 1


def test_dns_server_down_is_one_problem_with_the_offline_hint(campaign_dir):
    with DNSServer({}) as server:
        address = server.address
    go_live(campaign_dir)
    s, p = load(campaign_dir, CAMPAIGN_DNS_SERVER=address, CAMPAIGN_DKIM_SELECTOR="pm1")
    report = check_dns(s, p, "postmark")
    assert len(report.errors) == 1 and "--offline" in str(report.errors[0])
    s, p = load(campaign_dir, CAMPAIGN_DNS_SERVER="127.0.0.1:notaport")
    assert fields(check_dns(s, p, "postmark").errors) == ["CAMPAIGN_DNS_SERVER"]


@pytest.mark.parametrize("server", ["localhost:53", "1.2.3.4:0", "1.2.3.4:99999", "dns.example.net", ""])
def test_dns_server_setting_must_be_an_address(campaign_dir, server):
    go_live(campaign_dir)
    s, p = load(campaign_dir, CAMPAIGN_DNS_SERVER=server or " ", CAMPAIGN_DKIM_SELECTOR="pm1")
    assert fields(check_dns(s, p, "postmark").errors) == ["CAMPAIGN_DNS_SERVER"]


def test_dns_hostile_selector_is_refused_before_any_query(campaign_dir):
    report, server = dns_report(
        campaign_dir, good_zone(GO_LIVE_DOMAIN), CAMPAIGN_DKIM_SELECTOR="pm1,a b,..,x" + "y" * 70
    )
    assert fields(report.errors) == ["CAMPAIGN_DKIM_SELECTOR"] * 3
    assert [q for q in server.queries if "_domainkey" in q[0]] == [(f"pm1._domainkey.{GO_LIVE_DOMAIN}.", "TXT")]
