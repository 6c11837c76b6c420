"""The go-live gate where sends start: `campaign run` with a real provider refuses to start on a placeholder
and on a credential the provider rejects (probed at start); `campaign send` on any placeholder."""

from __future__ import annotations

from tests.probe_servers import ProbedPostmark, go_live

LONG_SECRET = "a-long-random-secret-key-of-40-characters!"


def postmark(server, token="test-key") -> dict:
    return {
        "CAMPAIGN_PROVIDER": "postmark",
        "POSTMARK_SERVER_TOKEN": token,
        "POSTMARK_API_URL": server.url,
        "CAMPAIGN_SECRET_KEY": LONG_SECRET,
    }


def test_run_refuses_to_start_with_placeholders(campaign_dir):
    with ProbedPostmark() as server:
        result = campaign_dir.run("run", "--once", env=postmark(server))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "campaign.postal_address" in result.stderr and "campaign.from" in result.stderr
    assert server.requests == []  # refused before any request, probe included


def test_run_probes_the_credential_at_start(campaign_dir):
    go_live(campaign_dir)
    with ProbedPostmark(key="real") as server:
        result = campaign_dir.run("run", "--once", env=postmark(server, token="stale"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "POSTMARK_SERVER_TOKEN" in result.stderr and "HTTP 401" in result.stderr
    assert [r.path for r in server.requests] == ["/server"]


def test_run_refuses_a_stream_that_would_replace_our_unsubscribe_link(campaign_dir):
    go_live(campaign_dir)
    with ProbedPostmark(unsubscribe_handling="Postmark") as server:
        result = campaign_dir.run("run", "--once", env=postmark(server))
    assert result.returncode == 2 and "campaign.message_stream" in result.stderr
    assert server.requests_to("/email") == []


def test_send_refuses_with_placeholders_and_sends_nothing(campaign_dir):
    with ProbedPostmark() as server:
        result = campaign_dir.run("send", "1", "--yes", env=postmark(server))
    assert result.returncode == 2 and "refusing to send real email through postmark" in result.stderr
    assert server.requests == []
