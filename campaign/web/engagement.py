"""Aggregate engagement (`engagement: aggregate`, series/engagement.py) and the organisers' chart.

- `GET /r/<day>/<link-id>`: counts one click for that day and link, and redirects (302) to the link — only to
  a link of that day's archived page (no open redirect). The URL carries no reader identity, and nothing
  about the client (address, agent, referrer, time beyond the day) is stored.
- `GET /o/<day>/<variant>.gif` (`opens: aggregate`): counts an open for that day and variant; a 1×1 GIF.
- `GET /metrics/engagement`: per-day delivered, clicks by link, opens (approximate), unsubscribes, pauses and
  complaints, as a chart and a table, behind CAMPAIGN_METRICS_TOKEN (`Authorization: Bearer …` or
  `?token=…`); without the variable the page does not exist (404).
With `engagement: off`, /r/ and /o/ count nothing (a 404).
"""

from __future__ import annotations

import base64
import hmac
import re
from datetime import date

from flask import Blueprint, make_response, request

from campaign.ledger.engagement import CLICK, OPEN
from campaign.series.engagement import LINK_ID, targets
from campaign.series.parts import from_url
from campaign.web.context import site
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page

bp = Blueprint("engagement", __name__)

VARIANT = re.compile(r"[A-Z]{2,4}")
METRICS_ENV = "CAMPAIGN_METRICS_TOKEN"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _campaign():
    return site().project.schedule.campaign


def _day(raw: str) -> date | None:
    return from_url(raw)


@bp.get("/r/<day>/<link>")
def click(day: str, link: str):
    ctx = site()
    when = _day(day)
    if _campaign().engagement != "aggregate" or when is None or not LINK_ID.fullmatch(link):
        return error_response(404)
    row = ctx.store.archived_issue(when)
    if row is None:
        return error_response(404)
    public = ctx.settings.public_url
    target = targets(row.web_html, day=when, public_url=public, crisis_urls=ctx.project.crisis.urls()).get(link)
    if target is None:
        return error_response(404)
    ctx.store.count_engagement(when, CLICK, link)
    response = make_response("", 302)
    response.headers["Location"] = target
    response.headers.update(NO_STORE)
    return response


@bp.get("/o/<day>/<variant>.gif")
def pixel(day: str, variant: str):
    ctx = site()
    when = _day(day)
    known = set(ctx.project.crisis.countries) | {"INTL"}
    campaign = _campaign()
    if campaign.engagement != "aggregate" or campaign.opens != "aggregate" or when is None or variant not in known:
        return error_response(404)
    if ctx.store.archived_issue(when) is None:
        return error_response(404)
    ctx.store.count_engagement(when, OPEN, variant)
    response = make_response(GIF, 200)
    response.mimetype = "image/gif"
    response.headers.update(NO_STORE)
    return response


def _authorised(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else request.args.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


@bp.get("/metrics/engagement")
def chart():
    ctx = site()
    expected = ctx.settings.get(METRICS_ENV)
    if not expected:
        return error_response(404)
    if not _authorised(expected):
        return error_response(401, title="Not allowed", message="This page needs the metrics token.")
    days = ctx.store.engagement_report()
    peak = max([d["delivered"] for d in days] + [1])
    response = render_page("metrics.html.j2", days=days, peak=peak, engagement=_campaign().engagement)
    response.headers.update(NO_STORE)
    return response
