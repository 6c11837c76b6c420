"""Issues: the archive of each day's web version, the day's recorded state (`IssueState`), and the frozen day
(what the day *is* once its send started: series/frozen.py).

Every write is a single upsert, so two senders starting the same day together cannot collide on the insert;
a frozen day is written once and never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from campaign.ledger.schema import IssueState, Tables, issues


class IssueArchive(Tables):
    def save_issue(self, day: date, *, number: int, subject: str, web_html: str, at: datetime) -> None:
        """Archive the day's web version when its first delivery starts (what "view in browser" shows). The
        first send time of a day already recorded (by an earlier send, or as missed) is kept."""
        upsert = self.insert(issues).values(
            day=day, number=number, subject=subject, web_html=web_html, first_sent_at=at, state=IssueState.SENDING
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[issues.c.day],
            set_={
                "number": upsert.excluded.number,
                "subject": upsert.excluded.subject,
                "web_html": upsert.excluded.web_html,
                "state": upsert.excluded.state,
                # a row made by freezing the day has no send time yet: the first send sets it, later ones keep it
                "first_sent_at": func.coalesce(issues.c.first_sent_at, upsert.excluded.first_sent_at),
            },
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def set_issue_state(
        self, day: date, state_: str | None, note: str | None = None, *, number: int = 0, subject: str = ""
    ) -> None:
        upsert = self.insert(issues).values(day=day, number=number, subject=subject, state=state_, note=note)
        upsert = upsert.on_conflict_do_update(
            index_elements=[issues.c.day], set_={"state": upsert.excluded.state, "note": upsert.excluded.note}
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)

    def issue_states(self) -> dict[date, Any]:
        with self.engine.connect() as conn:
            return {
                row.day: row
                for row in conn.execute(
                    select(
                        issues.c.day,
                        issues.c.number,
                        issues.c.subject,
                        issues.c.first_sent_at,
                        issues.c.state,
                        issues.c.note,
                    )
                )
            }

    def archived_issue(self, day: date):
        with self.engine.connect() as conn:
            return conn.execute(select(issues).where(issues.c.day == day, issues.c.web_html.is_not(None))).first()

    def archived_issues(self) -> list:
        """Days whose web version is archived (their send has started), oldest first — the public archive."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(issues.c.day, issues.c.number, issues.c.subject, issues.c.first_sent_at)
                    .where(issues.c.web_html.is_not(None))
                    .order_by(issues.c.day)
                )
            )

    def freeze_days(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Record days as they are when a send starts. A day already frozen keeps its first record: what went
        out stays as sent, whoever starts the send and whatever the files say now."""
        rows = [
            {
                "day": date.fromisoformat(r["day"]),
                "number": r["number"],
                "subject": r["subject"],
                "frozen": json.dumps(r),
            }
            for r in records
        ]
        if not rows:
            return
        upsert = self.insert(issues)
        upsert = upsert.on_conflict_do_update(
            index_elements=[issues.c.day], set_={"frozen": upsert.excluded.frozen}, where=issues.c.frozen.is_(None)
        )
        with self.engine.begin() as conn:
            conn.execute(upsert, rows)

    def frozen_days(self) -> dict[date, dict[str, Any]]:
        """Every frozen day's record (JSON-decoded), by day."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(issues.c.day, issues.c.frozen).where(issues.c.frozen.is_not(None)))
            return {row.day: json.loads(row.frozen) for row in rows}
