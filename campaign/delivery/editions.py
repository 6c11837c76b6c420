"""The days' editions as a send sees them: stored when a day starts, read back by every sender and worker.

`Editions.start` is called under the day's send lock: it freezes the day (and every earlier one not frozen
yet), renders its edition once from the project when the ledger has none, and stores it; whatever the ledger
holds afterwards is what every process sends. A process without a campaign folder (`project` None) can send
only days already started. A crisis variant the edition lacks (a country added to the crisis list since) is
rendered once by a process that has the folder, stored, and reused.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import date, datetime

from campaign.delivery.as_sent import freeze_through
from campaign.delivery.identity import instance_part
from campaign.errors import ConfigurationError, Problem
from campaign.ledger.queue import Variants
from campaign.ledger.schema import split_variant_key
from campaign.ledger.views import SenderLedger
from campaign.providers.base import Identity
from campaign.series.edition import INTERNATIONAL, Edition, make_edition
from campaign.series.project import Project
from campaign.series.render import RenderedIssue


class Editions:
    def __init__(self, store: SenderLedger, project: Project | None) -> None:
        self.store = store
        self.project = project
        self._cache: dict[date, Edition] = {}
        self._text_only: dict[tuple[date, str], RenderedIssue] = {}
        self._instance: str | None = None
        self._lock = threading.Lock()  # worker threads of one sender ask for variants concurrently

    def get(self, day: date) -> Edition | None:
        """The day's stored edition (None before its send started)."""
        if day not in self._cache:
            record = self.store.edition(day)
            if record is None:
                return None
            self._cache[day] = Edition.from_record(record)
        return self._cache[day]

    def require(self, day: date) -> Edition:
        edition = self.get(day)
        if edition is None:
            raise ConfigurationError(
                Problem(
                    "ledger",
                    None,
                    f"days.{day}",
                    f"day {day} has not started, and this process has no campaign folder to render it from",
                    f"start it from the campaign folder (`campaign send {day}`); workers then send the stored email",
                )
            )
        return edition

    def start(self, day: date, *, at: datetime) -> Edition:
        """The day's send starts: freeze it (and earlier days not frozen yet) and store its edition, unless one
        is stored. Without the folder only a day already started can start again (new subscribers owed it)."""
        if self.project is not None:
            freeze_through(self.project, self.store, day)
        edition = self.get(day)
        if edition is None:
            edition = make_edition(self.require_project(day), day)
        self.store.start(day, number=edition.number, subject=edition.subject, edition=edition.to_record(), at=at)
        self._cache.pop(day, None)
        return self.require(day)

    def require_project(self, day: date) -> Project:
        if self.project is None:
            self.require(day)  # raises: not started, no folder
        assert self.project is not None
        return self.project

    # -- what a send of a started day needs --------------------------------------------------------------
    def variant_for(self, day: date, country: str | None) -> str:
        if self.project is not None:  # the crisis list in force (it may have gained a country since)
            return self.project.variant_for(country)
        return self.require(day).variant_for(country)

    def variants(self, day: date) -> Variants:
        """Country → variant for the SQL CASE of the day's enqueue (and a dry run's counts)."""
        if self.project is None:
            edition = self.require(day)
            return Variants(dict(edition.countries), edition.default_variant, INTERNATIONAL)
        countries = self.project.crisis.countries
        return Variants(
            {code: self.project.variant_for(code) for code in countries},
            self.project.variant_for(None),
            self.project.variant_for("ZZ"),  # a code with no row: the international block
        )

    def known_variants(self, day: date) -> list[str]:
        v = self.variants(day)
        return sorted(set(v.by_country.values()) | {v.no_country, v.other})

    def issue(self, day: date, key: str) -> RenderedIssue:
        """The stored email of `day` for a queue variant: its crisis variant's, or for "<variant>+text" (a reader
        who chose plain text) the same email without its HTML part, so every provider sends the text alone."""
        variant, text_only = split_variant_key(key)
        issue = self._variant(day, variant)
        if not text_only:
            return issue
        cached = self._text_only.get((day, variant))
        if cached is None or cached.text is not issue.text:
            cached = self._text_only[day, variant] = dataclasses.replace(issue, html="")
        return cached

    def _variant(self, day: date, variant: str) -> RenderedIssue:
        """A crisis variant of the stored email; one it lacks is rendered once, stored, reused."""
        edition = self.require(day)
        if edition.has(variant):
            return edition.issue(variant)
        with self._lock:
            edition = self.require(day)
            if not edition.has(variant):
                if self.project is None:
                    raise ConfigurationError(
                        Problem(
                            "ledger",
                            None,
                            f"days.{day}",
                            f"day {day}'s stored email has no {variant} crisis variant, and this process has no "
                            "campaign folder to render it from",
                            f"run `campaign send {day}` once from the campaign folder: it renders and stores it",
                        )
                    )
                rendered = self.project.render(day, variant)
                record = self.store.add_edition_part(day, variant, rendered.html, rendered.text)
                edition = self._cache[day] = Edition.from_record(record)
        return edition.issue(variant)

    def identity(self, day: date) -> Identity:
        """The stored headers, with this database's random part of every Message-ID (delivery/identity.py)."""
        if self._instance is None:
            self._instance = instance_part(self.store)
        return Identity(**vars(self.require(day).headers), instance=self._instance)

    def send_at(self, day: date) -> datetime:
        """Who is owed `day`: those who joined before its send time (as recorded when it started)."""
        edition = self.get(day)
        if edition is not None:
            return edition.send_at
        if self.project is None:
            return self.require(day).send_at
        return self.project.schedule.send_at(day)

    def number(self, day: date) -> int:
        edition = self.get(day)
        if edition is not None:
            return edition.number
        assert self.project is not None
        return self.project.schedule.day_number(day)
