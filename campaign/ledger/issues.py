"""The day's state machine, and what a started day is and looks like (its frozen record and stored edition).

                 start()                      finish()
    PLANNED ──────────────▶ SENDING ─────────────────────────▶ SENT
       │  ▲ freeze()          ▲  │ miss() / skip()               │ start() (someone new is owed it)
       ▼  │ (a later day      │  ▼                               ▼
    FROZEN   started first)   │ MISSED | SKIPPED ──reschedule()──▶ RESCHEDULED ──start()──▶ SENDING
                              └──────────────── start() ──────────────────────────────────────┘

- PLANNED: no row. The day is split from the article like every day not started (series/plan.py).
- FROZEN: its record (series/frozen.py) is written because it or a later day started; never re-split.
- SENDING: its send started: the frozen record and the edition (series/edition.py: the verified email of every
  crisis variant, rendered once) are stored, and every sender, worker, retry and archive page merges into
  that edition. A day's edition is written once and never overwritten; a variant missing from it is added.
- SENT: nobody is owed it any more. MISSED / SKIPPED: its send time passed outside the grace window, or fell
  inside a series pause; RESCHEDULED: catch-up (or an edit) gave it a new send time.
  SENT, MISSED and SKIPPED record who is owed the day, so one may follow another (a reader can become owed a
  sent day again: `ALLOWED` below); a day the scheduler never recorded missed or skipped is never rescheduled.

Each transition is one method whose guarded upsert names the states it may leave (`ALLOWED`); a move from any
other state raises `IllegalTransition`, and no other module writes a day's state. Every write is a single
statement, so two senders starting the same day together cannot collide on the insert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import false, func, or_, select, update

from campaign.errors import CampaignError, IllegalTransition
from campaign.ledger.schema import Tables, issues
from campaign.ledger.states import IssueState

PLANNED, FROZEN, SENDING = IssueState.PLANNED, IssueState.FROZEN, IssueState.SENDING
SENT, MISSED, SKIPPED, RESCHEDULED = IssueState.SENT, IssueState.MISSED, IssueState.SKIPPED, IssueState.RESCHEDULED

# target -> the states it may be entered from (None: no state recorded, i.e. planned or frozen). "sent" is a
# fact about who is owed, not a final state: a day becomes owed again when a reader becomes owed it (a pause
# ended in skip mode, a re-activated address), so the scheduler may record it missed or skipped after it was
# sent. Only catch-up's reschedule is narrow: it moves a day the scheduler recorded missed or skipped.
_ANY: frozenset[IssueState | None] = frozenset({None, PLANNED, FROZEN, SENDING, SENT, MISSED, SKIPPED, RESCHEDULED})
ALLOWED: dict[IssueState, frozenset[IssueState | None]] = {
    SENDING: _ANY,
    SENT: _ANY,
    MISSED: _ANY,
    SKIPPED: _ANY,
    RESCHEDULED: frozenset({MISSED, SKIPPED, RESCHEDULED}),
}


class Shown(StrEnum):
    """What `campaign status` shows of a day (timing/days.py): a recorded state, or what the clock says of a
    day not settled yet. Slots (one per zone with local-time delivery) use DONE / SCHEDULED / DUE too."""

    SCHEDULED = "scheduled"
    DUE = "due"
    DONE = "done"
    SENDING = SENDING.value
    SENT = SENT.value
    MISSED = MISSED.value
    SKIPPED = SKIPPED.value
    INCOMPLETE = "incomplete"  # nobody owed, but failed or unknown deliveries wait (--retry-failed, --resend-unknown)


def is_settled(state: str | None) -> bool:
    """A day the scheduler recorded as not sent at its time (status shows it until someone sends it)."""
    return state in (MISSED, SKIPPED)


class IssueArchive(Tables):
    # -- transitions --------------------------------------------------------------------------------
    def start(self, day: date, *, number: int, subject: str, edition: Mapping[str, Any], at: datetime) -> None:
        """→ SENDING: store the day's edition (only when it has none: what went out stays as sent) and its
        web version for the archive. The first send time of a day already recorded is kept."""
        record = json.dumps(edition)
        upsert = self.insert(issues).values(
            day=day,
            number=number,
            subject=subject,
            web_html=edition["web_html"],
            edition=record,
            first_sent_at=at,
            state=SENDING,
        )
        upsert = upsert.on_conflict_do_update(  # a frozen (or missed) row gains its edition; a stored one stays
            index_elements=[issues.c.day],
            set_={
                "state": upsert.excluded.state,
                "web_html": func.coalesce(issues.c.web_html, upsert.excluded.web_html),
                "edition": func.coalesce(issues.c.edition, upsert.excluded.edition),
                "first_sent_at": func.coalesce(issues.c.first_sent_at, upsert.excluded.first_sent_at),
            },
        )
        with self.engine.begin() as conn:
            current = conn.execute(select(issues.c.state).where(issues.c.day == day)).first()
            self._guard(day, current.state if current else None, SENDING)
            conn.execute(upsert)

    def finish(self, day: date) -> None:
        """SENDING → SENT: nobody is owed the day any more."""
        self._move(day, SENT)

    def miss(self, day: date, note: str, *, number: int, subject: str) -> None:
        self._move(day, MISSED, note, number=number, subject=subject)

    def skip(self, day: date, note: str, *, number: int, subject: str) -> None:
        self._move(day, SKIPPED, note, number=number, subject=subject)

    def reschedule(self, day: date) -> None:
        """MISSED | SKIPPED → RESCHEDULED (catch-up, or an edit that moved its send time into the future)."""
        self._move(day, RESCHEDULED)

    def _move(
        self, day: date, target: IssueState, note: str | None = None, *, number: int = 0, subject: str = ""
    ) -> None:
        allowed = [s for s in ALLOWED[target] if s is not None]
        upsert = self.insert(issues).values(day=day, number=number, subject=subject, state=target, note=note)
        guard = or_(issues.c.state.in_(allowed), issues.c.state.is_(None) if None in ALLOWED[target] else false())
        upsert = upsert.on_conflict_do_update(
            index_elements=[issues.c.day],
            set_={"state": upsert.excluded.state, "note": upsert.excluded.note},
            where=guard,
        )
        with self.engine.begin() as conn:
            current = conn.execute(select(issues.c.state).where(issues.c.day == day)).first()
            self._guard(day, current.state if current else None, target)
            conn.execute(upsert)

    @staticmethod
    def _guard(day: date, current: str | None, target: IssueState) -> None:
        if (IssueState(current) if current else None) not in ALLOWED[target]:
            raise IllegalTransition(day, current or PLANNED, target)

    def freeze_days(self, records: Iterable[Mapping[str, Any]]) -> None:
        """PLANNED → FROZEN: record days as they are when a send starts. A day already frozen keeps its first
        record: what went out stays as sent, whoever starts the send and whatever the files say now."""
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

    def add_edition_part(self, day: date, variant: str, html: str, text: str) -> dict[str, Any]:
        """Add one crisis variant to a started day's edition, compare-and-set: when another process changed the
        record meanwhile (added this variant, or another one), read it again and add ours to that, so no
        variant is lost and one added first is kept. Returns the edition as stored."""
        for _ in range(20):
            with self.engine.begin() as conn:
                old = conn.execute(select(issues.c.edition).where(issues.c.day == day)).scalar_one()
                record = json.loads(old)
                if variant in record["parts"]:
                    return record
                record["parts"][variant] = {"html": html, "text": text}
                query = update(issues).where(issues.c.day == day, issues.c.edition == old)
                if conn.execute(query.values(edition=json.dumps(record))).rowcount == 1:
                    return record
        raise CampaignError(f"day {day}'s stored email kept changing while adding its {variant} variant")

    # -- reads --------------------------------------------------------------------------------------
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
                        issues.c.edition.is_not(None).label("rendered"),
                    )
                )
            }

    def edition(self, day: date) -> dict[str, Any] | None:
        """The day's stored edition (series/edition.py's record), or None before its send started."""
        with self.engine.connect() as conn:
            raw = conn.execute(select(issues.c.edition).where(issues.c.day == day)).scalar_one_or_none()
        return json.loads(raw) if raw else None

    def edition_days(self) -> dict[int, date]:
        """Days holding a stored edition, by the number they printed (a DAY argument without the folder)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(issues.c.day, issues.c.number).where(issues.c.edition.is_not(None)))
            return {row.number: row.day for row in rows}

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

    def frozen_days(self) -> dict[date, dict[str, Any]]:
        """Every frozen day's record (JSON-decoded), by day."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(issues.c.day, issues.c.frozen).where(issues.c.frozen.is_not(None)))
            return {row.day: json.loads(row.frozen) for row in rows}
