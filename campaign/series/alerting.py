"""schedule.yaml's optional `alerts:` and `breaker:` sections (validated like the rest of the file: an error
names `schedule.yaml:<line>: alerts.operators[0]: …`). Pure settings; what they drive lives in campaign/alerts.

    alerts:
      operators: ["ops@example.org"]        # every alert and the daily report, as plain transactional email
      organisers: ["editor@example.org"]    # a refused hot-reloaded edit (and the breaker) reaches them too
      daily_report: true                    # a short report to the operators after each day's send
      email_provider: smtp                  # optional: send alert email through another provider
    breaker:
      complaint_rate: 0.001                 # pause the series when a day's complaints exceed 0.1% of its sends
      bounce_rate: 0.05                     # … or its hard bounces exceed 5%
      min_events: 3                         # … counting only once a day has at least this many such events
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from campaign.series.headers import address


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)


class AlertSettings(_Strict):
    operators: list[str] = Field(default_factory=list, max_length=20)
    organisers: list[str] = Field(default_factory=list, max_length=20)
    daily_report: bool = True
    # the provider alert email goes through (default: campaign.provider). Another one keeps alerts flowing
    # when the campaign's provider refuses its credentials, e.g. smtp through the host's own relay.
    email_provider: Literal["outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend"] | None = None

    @field_validator("operators", "organisers")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return [address(a, "alert address") for a in v]


class BreakerSettings(_Strict):
    complaint_rate: float = Field(default=0.001, gt=0, le=1)
    bounce_rate: float = Field(default=0.05, gt=0, le=1)
    min_events: int = Field(default=3, ge=1, le=1_000_000)
