"""The deliverability circuit breaker: a day's complaints and hard bounces, counted from the webhook events.

Gmail and Yahoo filter a sender for everyone once its complaint rate passes 0.3% (0.1% recommended); this
series carries crisis lines that must keep reaching inboxes. So the day's figures are checked after every
complaint or hard bounce a webhook stores:

    the day       = the latest day whose send has started (issues.first_sent_at ≤ now)
    sent          = its deliveries marked sent
    complaints    = complaint events received since its send started; bounces likewise (hard bounces only)
    trips when    complaints ≥ min_events and complaints / sent > complaint_rate,
               or bounces ≥ min_events and bounces / sent > bounce_rate

Tripping pauses the series (timing/holds.py does that, and raises the alert); a send in progress stops after
its batch in flight (the sender checks the pause before every batch); `campaign resume --yes` ends it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from campaign.ledger import alerts as ledger
from campaign.ledger.alerts import Engine
from campaign.series.alerting import BreakerSettings


@dataclass(frozen=True)
class Figures:
    day: date
    sent: int
    complaints: int
    bounces: int

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    def as_counts(self) -> dict:
        return {**asdict(self), "day": self.day.isoformat()}

    def describe(self) -> str:
        return (
            f"day {self.day}: {self.complaints} complaint(s) and {self.bounces} hard bounce(s) "
            f"of {self.sent} sent ({self.complaint_rate:.2%} complaints, {self.bounce_rate:.2%} bounces)"
        )


def day_figures(engine: Engine, now: datetime) -> Figures | None:
    """The figures of the latest day whose send has started (None before the first send)."""
    counted = ledger.breaker_counts(engine, now)
    return Figures(*counted) if counted is not None else None


def tripped(figures: Figures, limits: BreakerSettings) -> str | None:
    """Why the breaker trips on these figures (None: it does not)."""
    if figures.sent == 0:
        return None
    if figures.complaints >= limits.min_events and figures.complaint_rate > limits.complaint_rate:
        return (
            f"spam complaints at {figures.complaint_rate:.2%} of day {figures.day}'s {figures.sent} sent "
            f"({figures.complaints}), over breaker.complaint_rate {limits.complaint_rate:.2%}"
        )
    if figures.bounces >= limits.min_events and figures.bounce_rate > limits.bounce_rate:
        return (
            f"hard bounces at {figures.bounce_rate:.2%} of day {figures.day}'s {figures.sent} sent "
            f"({figures.bounces}), over breaker.bounce_rate {limits.bounce_rate:.2%}"
        )
    return None


WHAT_TO_LOOK_AT = (
    "look at the day's subject and content, the list's sources (an old or bought list?), and the provider's "
    "suppression and bounce reports; then `campaign resume --yes`"
)
