"""`/metrics` (parsed with prometheus-client's own parser), its bearer token, `campaign status --json`, and
`/healthz` turning 503 after the scheduler is killed with -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from campaign.timing.watchdog import HEARTBEAT_KEY
from tests.conftest import CAMPAIGN_BIN, wait_until
from tests.provider_servers import seed_subscribers
from tests.web_live import live_web


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_match_the_ledger_and_need_the_token(campaign_dir):
    store = campaign_dir.store()
    seed_subscribers(store, 30)
    store.close()
    campaign_dir.run("send", "1", "--yes", check=True)
    with live_web(campaign_dir, env={"CAMPAIGN_METRICS_TOKEN": "metrics-s3cret"}) as web:
        assert requests.get(f"{web.url}/metrics", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert requests.get(f"{web.url}/metrics", headers=wrong, timeout=10).status_code == 401
        good = {"Authorization": "Bearer metrics-s3cret"}
        response = requests.get(f"{web.url}/metrics", headers=good, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        found = samples(response.text)
        sent = web.store.delivery_counts()[min(web.store.delivery_counts())]["sent"]
    assert found[("campaign_deliveries", (("day", "2027-09-01"), ("state", "sent")))] == sent == 30
    assert found[("campaign_deliveries", (("day", "2027-09-02"), ("state", "sent")))] == 0
    assert found[("campaign_queue_depth", ())] == 0 and found[("campaign_paused", ())] == 0
    assert ("campaign_scheduler_heartbeat_age_seconds", ()) in found
    assert found[("campaign_next_send_timestamp_seconds", ())] > time.time()
    assert "metrics-s3cret" not in response.text and "@example.org" not in response.text


def test_status_json_has_the_tables_figures(campaign_dir):
    store = campaign_dir.store()
    seed_subscribers(store, 12)
    store.close()
    campaign_dir.run("send", "1", "--yes", check=True)
    figures = json.loads(campaign_dir.run("status", "--json", check=True).stdout)
    assert figures["days"][0]["date"] == "2027-09-01" and figures["days"][0]["sent"] == 12
    assert figures["days"][0]["state"] == "sent" and figures["days"][1]["state"] == "scheduled"
    assert figures["subscribers"] == {"active": 12} and figures["paused"] is None
    assert figures["breaker"]["limits"] == {"complaint_rate": 0.001, "bounce_rate": 0.05, "min_events": 3}
    assert figures["waiting"] == [] and figures["next_send"].startswith("2027-09-02")


def test_healthz_answers_503_within_150_s_of_a_kill_9(campaign_dir):
    process = subprocess.Popen(
        [str(CAMPAIGN_BIN), "run"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with live_web(campaign_dir, links_to_server=False) as web:
            wait_until(lambda: web.store.get_state(HEARTBEAT_KEY), timeout=60, what="the first heartbeat")
            assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            killed = time.monotonic()
            wait_until(
                lambda: requests.get(f"{web.url}/healthz", timeout=10).status_code == 503,
                timeout=150,
                interval=2,
                what="/healthz turning 503",
            )
            assert time.monotonic() - killed <= 150
            body = requests.get(f"{web.url}/healthz", timeout=10).json()
            assert body["ok"] is False and "heartbeat" in body["scheduler"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
