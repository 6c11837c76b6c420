"""`campaign check` as the go-live gate, through the real command: every problem in one run (exit 2, no
traceback), the credential proven against the local fake Postmark, DNS from a local DNS server, and
`campaign send` refusing to start while a placeholder is left."""

from __future__ import annotations

import re

import pytest

from tests.dns_server import DNSServer, good_zone
from tests.probe_servers import GO_LIVE_DOMAIN, ProbedPostmark, go_live

LONG_SECRET = "a-long-random-secret-key-of-40-characters!"
pytestmark = pytest.mark.slow  # each `check` renders and builds 30 days × 8 variants (~10 s)


def without(env: dict, *names: str) -> dict:
    return {k: v for k, v in env.items() if k not in names}


def test_placeholders_are_all_named_in_one_run_and_send_refuses(campaign_dir):
    campaign_dir.env = without(campaign_dir.env, "CAMPAIGN_PUBLIC_URL")
    campaign_dir.write_csv([{"email": "ann@mind-matters-news.net", "name": "Ann"}])
    campaign_dir.run("subscribers", "import", "subscribers.csv", check=True)
    env = {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "test-key", "CAMPAIGN_SECRET_KEY": LONG_SECRET}
    with ProbedPostmark() as server:
        env["POSTMARK_API_URL"] = server.url
        result = campaign_dir.run("check", env=env)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert any("CAMPAIGN_PUBLIC_URL: not set" in line for line in errors), errors
        assert any(
            re.search(r"schedule.yaml:\d+: campaign.postal_address: is still the placeholder", x) for x in errors
        )
        assert any("campaign.from" in line and "example.org" in line for line in errors)
        assert "not ready:" in result.stderr

        sent = campaign_dir.run("send", "1", env=env)
        assert sent.returncode == 2 and "Traceback" not in sent.stderr
        assert "CAMPAIGN_PUBLIC_URL" in sent.stderr and "campaign.postal_address" in sent.stderr
        assert "refusing to send real email through postmark" in sent.stderr
        assert server.requests_to("/email") == []  # nothing left the machine


def test_outbox_check_warns_and_passes(campaign_dir):
    result = campaign_dir.run("check", env={"CAMPAIGN_PUBLIC_URL": ""})
    assert result.returncode == 0, result.stderr
    assert "warning: environment: CAMPAIGN_PUBLIC_URL: not set" in result.stderr
    assert "provider outbox" in result.stdout


def ready_env(campaign_dir, server, dns) -> dict:
    return {
        **go_live(campaign_dir),
        "CAMPAIGN_PROVIDER": "postmark",
        "POSTMARK_SERVER_TOKEN": "test-key",
        "POSTMARK_API_URL": server.url,
        "CAMPAIGN_SECRET_KEY": LONG_SECRET,
        "CAMPAIGN_DNS_SERVER": dns.address,
        "CAMPAIGN_DKIM_SELECTOR": "pm1",
    }


def network_errors(result) -> list[str]:
    """error lines of the go-live settings and network checks (email QA findings left aside)."""
    return [
        line for line in result.stderr.splitlines() if line.startswith("error:") and not line.startswith("error: 2027-")
    ]


def test_bad_token_and_a_stream_that_manages_unsubscribes_are_refused(campaign_dir):
    with DNSServer(good_zone(GO_LIVE_DOMAIN)) as dns, ProbedPostmark(key="real", unsubscribe_handling="Postmark") as pm:
        env = ready_env(campaign_dir, pm, dns)
        bad = campaign_dir.run("check", env=env)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        assert [line.split(":")[2].strip() for line in network_errors(bad)] == ["POSTMARK_SERVER_TOKEN"], bad.stderr
        assert "ok: dns: DMARC" in bad.stdout

        stream = campaign_dir.run("check", env={**env, "POSTMARK_SERVER_TOKEN": "real"})
        assert stream.returncode == 2
        (line,) = network_errors(stream)
        assert "campaign.message_stream" in line and "Manage unsubscribes on your own" in line
        assert "UnsubscribeHandlingType='Postmark'" in line


def test_a_ready_campaign_passes_the_network_checks_and_offline_says_what_it_skipped(campaign_dir):
    with DNSServer(good_zone(GO_LIVE_DOMAIN)) as dns, ProbedPostmark() as pm:
        env = ready_env(campaign_dir, pm, dns)
        result = campaign_dir.run("check", env=env)
        assert network_errors(result) == [], result.stderr
        for words in ("POSTMARK_SERVER_TOKEN accepted", "leaves unsubscribes to us", "SPF at", "DKIM key", "DMARC at"):
            assert words in result.stdout
        offline = campaign_dir.run("check", "--offline", env=env)
        assert "skipped (--offline): network checks" in offline.stdout and "NOT verified" in offline.stdout
        assert pm.requests_to("/server") and len(pm.requests_to("/server")) == 1  # --offline asked nothing
