"""The alerts ledger: each alert once per dedupe key (cause and day), and its sends per channel.

    alert_sends.status:  pending -> sent | failed   (failed is tried again, with back-off, while attempts remain)

Functions of an `Engine` (not a Store mixin), so the alert code needs nothing else of the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from campaign.ledger.schema import alert_sends, alerts, deliveries, events, issues
from campaign.ledger.states import SENT, AlertSendStatus

__all__ = ["AlertRow", "Engine", "breaker_counts", "record_alert", "record_attempt", "recent_alerts", "unsent"]

COMPLAINT, HARD_BOUNCE = "complaint", "bounce"  # the normalised webhook kinds (web/webhooks/common.py)


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    day: date | None
    text: str
    details: dict[str, Any]
    raised_at: datetime
    sends: dict[str, tuple[str, int, str | None]]  # channel -> (status, attempts, error)


def record_alert(
    engine: Engine,
    *,
    key: str,
    kind: str,
    day: date | None,
    text: str,
    details: dict[str, Any],
    channels: list[str],
    at: datetime,
) -> int | None:
    """Record a new alert and a pending send per channel; None when its dedupe key was recorded already
    (the same cause, the same day: no second alert)."""
    try:
        with engine.begin() as conn:
            alert_id = conn.execute(
                alerts.insert()
                .values(
                    dedupe_key=key[:200],
                    kind=kind,
                    day=day,
                    text=text,
                    details=json.dumps(details, sort_keys=True, default=str),
                    raised_at=at,
                )
                .returning(alerts.c.id)
            ).scalar_one()
            for channel in channels:
                conn.execute(
                    alert_sends.insert().values(
                        alert_id=alert_id,
                        channel=channel,
                        status=AlertSendStatus.PENDING.value,
                        attempts=0,
                        updated_at=at,
                    )
                )
    except IntegrityError:
        return None
    return int(alert_id)


def record_attempt(engine: Engine, alert_id: int, channel: str, *, ok: bool, error: str | None, at: datetime) -> None:
    status = AlertSendStatus.SENT if ok else AlertSendStatus.FAILED
    with engine.begin() as conn:
        conn.execute(
            alert_sends.update()
            .where(alert_sends.c.alert_id == alert_id, alert_sends.c.channel == channel)
            .values(status=status.value, attempts=alert_sends.c.attempts + 1, error=error, updated_at=at)
        )


def unsent(engine: Engine, *, max_attempts: int) -> list[tuple[AlertRow, str]]:
    """(alert, channel) pairs still pending or failed with attempts left, oldest first."""
    query = (
        select(alert_sends.c.alert_id, alert_sends.c.channel)
        .where(alert_sends.c.status != AlertSendStatus.SENT.value, alert_sends.c.attempts < max_attempts)
        .order_by(alert_sends.c.alert_id)
    )
    with engine.connect() as conn:
        pairs = [(row.alert_id, row.channel) for row in conn.execute(query)]
    rows = {row.id: row for row in recent_alerts(engine, ids=sorted({a for a, _ in pairs}))}
    return [(rows[a], channel) for a, channel in pairs if a in rows]


def recent_alerts(engine: Engine, *, limit: int = 50, ids: list[int] | None = None) -> list[AlertRow]:
    """The newest alerts first (or exactly `ids`), each with its sends."""
    query = select(alerts).order_by(alerts.c.id.desc())
    query = query.where(alerts.c.id.in_(ids)) if ids is not None else query.limit(limit)
    with engine.connect() as conn:
        found = list(conn.execute(query))
        sends: dict[int, dict[str, tuple[str, int, str | None]]] = {}
        if found:
            for s in conn.execute(select(alert_sends).where(alert_sends.c.alert_id.in_([r.id for r in found]))):
                sends.setdefault(s.alert_id, {})[s.channel] = (s.status, s.attempts, s.error)
    return [
        AlertRow(r.id, r.kind, r.day, r.text, json.loads(r.details), r.raised_at, sends.get(r.id, {})) for r in found
    ]


def count_sent(engine: Engine) -> int:
    """Alert sends that reached their channel (for /metrics)."""
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(alert_sends).where(alert_sends.c.status == AlertSendStatus.SENT.value)
        ).scalar_one()


def breaker_counts(engine: Engine, now: datetime) -> tuple[date, int, int, int] | None:
    """(day, sent, complaints, hard bounces) of the latest day whose send started by `now`: its deliveries
    marked sent, and the complaint and hard-bounce events received since its send started."""
    with engine.connect() as conn:
        row = conn.execute(
            select(issues.c.day, issues.c.first_sent_at)
            .where(issues.c.first_sent_at.is_not(None), issues.c.first_sent_at <= now)
            .order_by(issues.c.first_sent_at.desc(), issues.c.day.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        sent = conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.day == row.day, deliveries.c.status == SENT)
        ).scalar_one()
        counted = {
            kind: n
            for kind, n in conn.execute(
                select(events.c.kind, func.count())
                .where(events.c.kind.in_([COMPLAINT, HARD_BOUNCE]), events.c.received_at >= row.first_sent_at)
                .group_by(events.c.kind)
            )
        }
    return row.day, sent, counted.get(COMPLAINT, 0), counted.get(HARD_BOUNCE, 0)


def event_counts(engine: Engine) -> dict[str, int]:
    """Webhook events stored, by kind (for /metrics and `status --json`)."""
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.kind, func.count()).group_by(events.c.kind).order_by(events.c.kind))
        return {kind: n for kind, n in rows}


def event_counts_since(engine: Engine, since: datetime) -> dict[str, int]:
    """Webhook events received since `since`, by kind (the daily report's figures for one day)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.kind, func.count()).where(events.c.received_at >= since).group_by(events.c.kind)
        )
        return {kind: n for kind, n in rows}
