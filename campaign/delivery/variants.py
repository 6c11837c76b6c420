"""The issue a queue variant sends: its crisis variant's render, or — for "<variant>+text", readers who chose
plain text on the preferences page — the same render without its HTML part (every provider then sends the
text part alone). Rendered once per (day, variant) like every issue; the text-only copy is made once too."""

from __future__ import annotations

import dataclasses
from datetime import date

from campaign.ledger.schema import split_variant_key
from campaign.series.project import Project
from campaign.series.render import RenderedIssue


class QueueRenders:
    def __init__(self) -> None:
        self._text_only: dict[tuple[int, date, str], RenderedIssue] = {}

    def issue(self, project: Project, day: date, key: str) -> RenderedIssue:
        variant, text_only = split_variant_key(key)
        issue = project.render(day, variant)
        if not text_only:
            return issue
        cached = self._text_only.get((id(issue), day, variant))
        if cached is None or cached.text is not issue.text:
            cached = self._text_only[id(issue), day, variant] = dataclasses.replace(issue, html="")
        return cached
