"""Revisions of the organiser's files saved from the studio, and edits held for approval.

A revision is one save: who, when, which file, and its whole text before and after (restoring one is a new
revision). An approval is a held edit of one day: pending -> approved | rejected, decided once — the UPDATE
carries `state = pending` in its WHERE clause, so two approvers racing cannot both decide it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

from campaign.ledger.schema import Tables, approvals, revisions, users
from campaign.ledger.states import ApprovalState


@dataclass(frozen=True)
class Revision:
    id: int
    created_at: datetime
    user_id: int
    email: str
    path: str
    day: date | None
    summary: str
    before: str
    after: str
    restored_from: int | None


@dataclass(frozen=True)
class Approval:
    id: int
    day: date
    fields: dict[str, Any]
    state: ApprovalState
    requested_by: int
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    note: str | None
    revision_id: int | None


def _revision(r) -> Revision:
    return Revision(
        r.id, r.created_at, r.user_id, r.email, r.path, r.day, r.summary, r.text_before, r.text_after, r.restored_from
    )


def _approval(r) -> Approval:
    return Approval(
        r.id,
        r.day,
        json.loads(r.fields),
        ApprovalState(r.state),
        r.requested_by,
        r.requested_at,
        r.decided_by,
        r.decided_at,
        r.note,
        r.revision_id,
    )


_REVISION_COLUMNS = (*revisions.c, users.c.email)
MAX_ID = 2**31 - 1  # ids from URLs: anything outside an INTEGER column's range names nothing


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


class Revisions(Tables):
    def add_revision(
        self,
        *,
        user_id: int,
        path: str,
        day: date | None,
        summary: str,
        before: str,
        after: str,
        at: datetime,
        restored_from: int | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                revisions.insert()
                .values(
                    created_at=at,
                    user_id=user_id,
                    path=path,
                    day=day,
                    summary=summary[:500],
                    text_before=before,
                    text_after=after,
                    restored_from=restored_from,
                )
                .returning(revisions.c.id)
            ).scalar_one()

    def revision(self, revision_id: int) -> Revision | None:
        if not _valid_id(revision_id):
            return None
        query = select(*_REVISION_COLUMNS).join_from(revisions, users).where(revisions.c.id == revision_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _revision(row) if row else None

    def list_revisions(self, *, limit: int = 200) -> list[Revision]:
        """Newest first."""
        query = select(*_REVISION_COLUMNS).join_from(revisions, users).order_by(revisions.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_revision(r) for r in conn.execute(query)]

    # -- approvals -------------------------------------------------------------------------------------------
    def hold_edit(self, day: date, fields: dict[str, Any], *, user_id: int, at: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                approvals.insert()
                .values(
                    day=day,
                    fields=json.dumps(fields, sort_keys=True),
                    state=ApprovalState.PENDING.value,
                    requested_by=user_id,
                    requested_at=at,
                )
                .returning(approvals.c.id)
            ).scalar_one()

    def approval(self, approval_id: int) -> Approval | None:
        if not _valid_id(approval_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id)).first()
        return _approval(row) if row else None

    def list_approvals(self, *, pending_only: bool = False) -> list[Approval]:
        query = select(approvals).order_by(approvals.c.id.desc())
        if pending_only:
            query = query.where(approvals.c.state == ApprovalState.PENDING)
        with self.engine.connect() as conn:
            return [_approval(r) for r in conn.execute(query)]

    def decide(
        self,
        approval_id: int,
        state: ApprovalState,
        *,
        user_id: int,
        at: datetime,
        note: str | None,
        revision_id: int | None = None,
    ) -> bool:
        """pending -> approved | rejected, once. False when it was no longer pending."""
        decided = (
            update(approvals)
            .where(approvals.c.id == approval_id, approvals.c.state == ApprovalState.PENDING)
            .values(state=state.value, decided_by=user_id, decided_at=at, note=note, revision_id=revision_id)
            .returning(approvals.c.id)
        )
        with self.engine.begin() as conn:
            return conn.execute(decided).scalar() is not None
