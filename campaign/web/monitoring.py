"""`GET /metrics` (Prometheus text format, via prometheus-client) and the scheduler part of `GET /healthz`.

/metrics is read fresh from the ledger on every scrape (a custom collector: no state in this process, so
any number of `campaign serve` processes export the same figures). With CAMPAIGN_METRICS_TOKEN set it needs
`Authorization: Bearer <token>` (401 otherwise).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from campaign.ledger.states import FAILED, QUEUED, REJECTED, SENT, UNKNOWN
from campaign.timing.figures import series_figures
from campaign.web.context import SiteContext, site
from campaign.web.error_pages import error_response

bp = Blueprint("monitoring", __name__)


class LedgerCollector(Collector):
    def __init__(self, ctx: SiteContext, now: datetime):
        self.ctx = ctx
        self.now = now

    def collect(self) -> Iterator:
        f = series_figures(self.ctx.project, self.ctx.store, now=self.now)
        deliveries = GaugeMetricFamily("campaign_deliveries", "Deliveries by day and state", labels=["day", "state"])
        queue = 0
        for day in f["days"]:
            for state in (SENT, QUEUED, FAILED, REJECTED, UNKNOWN):
                deliveries.add_metric([day["date"], state], day[state])
            queue += day[QUEUED]
        yield deliveries
        yield GaugeMetricFamily("campaign_queue_depth", "Deliveries queued, not claimed yet", value=queue)
        waiting = GaugeMetricFamily(
            "campaign_deliveries_waiting", "Failed and unknown deliveries waiting for an operator", labels=["state"]
        )
        waiting.add_metric([FAILED], sum(w[FAILED] for w in f["waiting"]))
        waiting.add_metric([UNKNOWN], sum(w[UNKNOWN] for w in f["waiting"]))
        yield waiting
        events = CounterMetricFamily("campaign_webhook_events", "Webhook events stored, by kind", labels=["kind"])
        for kind, n in f["webhook_events"].items():
            events.add_metric([kind], n)
        yield events
        yield CounterMetricFamily(
            "campaign_alerts_sent", "Alert messages that reached a channel", value=f["alerts_sent"]
        )
        yield GaugeMetricFamily("campaign_paused", "1 while the series is paused", value=int(bool(f["paused"])))
        yield GaugeMetricFamily(
            "campaign_breaker_tripped",
            "1 while the deliverability breaker holds the series",
            value=int(f["breaker"]["tripped"]),
        )
        age = f["scheduler_heartbeat_age_seconds"]
        yield GaugeMetricFamily(
            "campaign_scheduler_heartbeat_age_seconds",
            "Seconds since the scheduler's last heartbeat (NaN: none yet)",
            value=float("nan") if age is None else age,
        )
        nxt = f["next_send"]
        yield GaugeMetricFamily(
            "campaign_next_send_timestamp_seconds",
            "When the next send time is (Unix seconds; NaN: none)",
            value=datetime.fromisoformat(nxt).timestamp() if nxt else float("nan"),
        )


@bp.get("/metrics")
def metrics():
    ctx = site()
    token = ctx.settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error_response(401, title="Unauthorized", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ctx, ctx.clock()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")
