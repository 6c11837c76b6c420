"""Saving an organiser's edit: checked, guarded, held or written, recorded.

`save_day` (PUT /studio/api/days/<day>): a day whose send has started is read-only (409); a stale ETag is a
conflict (409, with the current text); an edit that fails the checks of `campaign validate` is not written
(422, with its problems); an edit to a day sending within `approval_hours` is held for a second person (202);
otherwise the file is written atomically and a revision recorded (200). `decide` approves (through the same
checks, by a different approver or admin) or rejects a held edit; `restore` brings a revision's text back as
a new revision. Every outcome is an audit event. One save at a time (the studio's write lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from campaign.delivery.as_sent import frozen_days
from campaign.errors import EditConflict, InvalidInput
from campaign.ledger.accounts import User
from campaign.ledger.states import ApprovalState, AuditTag
from campaign.series.edit import etag_of, read_text, write_if_unchanged
from campaign.series.parts import label
from campaign.series.project import load_project
from campaign.studio.checking import check_day
from campaign.studio.context import StudioContext

SCHEDULE = "schedule.yaml"


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    tag: AuditTag | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _conflict(err: EditConflict) -> Outcome:
    return Outcome(
        409,
        {"error": str(err), "conflict": True, "current": err.current, "etag": err.etag},
        AuditTag.DAY_SAVE_REJECTED,
        {"reason": "changed on disk"},
    )


def _started(day: date) -> Outcome:
    return Outcome(
        409,
        {"error": f"{day}'s send has started: what went out stays as sent", "read_only": True},
        AuditTag.DAY_SAVE_REJECTED,
        {"reason": "send started"},
    )


def _summary(day: date, fields: dict[str, Any]) -> str:
    return f"{day}: " + ", ".join(sorted(fields))


def save_day(c: StudioContext, user: User, day: date, fields: dict[str, Any], if_match: str | None) -> Outcome:
    path = c.settings.schedule_path
    details = {"day": str(day), "fields": sorted(fields)}
    with c.write_lock:
        frozen = frozen_days(c.store)
        if day in frozen:
            return _with(_started(day), details)
        current = read_text(path)
        if not if_match or if_match != etag_of(current):
            return _with(_conflict(EditConflict(SCHEDULE, current, etag_of(current))), details)
        checked = check_day(c.settings, frozen, current, day, fields)
        if not checked.ok or checked.project is None:
            outcome = Outcome(422, {"problems": checked.problems}, AuditTag.DAY_SAVE_REJECTED, {"reason": "invalid"})
            return _with(outcome, details)
        if checked.text == current:
            return Outcome(200, {"revision": None, "etag": etag_of(current), "unchanged": True})
        schedule = checked.project.schedule
        hours = schedule.campaign.approval_hours
        if _sends_soon(c, schedule, day, c.clock()):
            approval = c.ledger.hold_edit(day, fields, user_id=user.id, at=c.clock())
            body = {"approval": approval, "held": True, "approval_hours": hours, "etag": etag_of(current)}
            return Outcome(202, body, AuditTag.DAY_SAVE_HELD, {**details, "approval": approval})
        try:
            etag = write_if_unchanged(path, checked.text, etag_of(current))
        except EditConflict as err:
            return _with(_conflict(err), details)
        revision = c.ledger.add_revision(
            user_id=user.id,
            path=SCHEDULE,
            day=day,
            summary=_summary(day, fields),
            before=current,
            after=checked.text,
            at=c.clock(),
        )
        return Outcome(200, {"revision": revision, "etag": etag}, AuditTag.DAY_SAVED, {**details, "revision": revision})


def _with(outcome: Outcome, details: dict[str, Any]) -> Outcome:
    outcome.details = {**details, **outcome.details}
    return outcome


def decide(c: StudioContext, user: User, approval_id: int, decision: str, note: str | None) -> Outcome:
    approval = c.ledger.approval(approval_id)
    if approval is None:
        return Outcome(404, {"error": "no such approval"})
    details = {"approval": approval_id, "day": str(approval.day)}
    if approval.state != ApprovalState.PENDING:
        return Outcome(409, {"error": f"already {approval.state.value}"})
    if decision == "reject":
        if user.id != approval.requested_by and not user.can_approve:
            return Outcome(
                403, {"error": "only the editor or an approver can reject it"}, AuditTag.DAY_APPROVAL_REFUSED, details
            )
        if not c.ledger.decide(approval_id, ApprovalState.REJECTED, user_id=user.id, at=c.clock(), note=note):
            return Outcome(409, {"error": "already decided"})
        return Outcome(200, {"state": ApprovalState.REJECTED.value}, AuditTag.DAY_REJECTED, {**details, "note": note})
    if user.id == approval.requested_by:
        return Outcome(
            403,
            {"error": "a different person must approve your own edit"},
            AuditTag.DAY_APPROVAL_REFUSED,
            {**details, "reason": "own edit"},
        )
    if not user.can_approve:
        return Outcome(
            403,
            {"error": "only an approver or admin can approve"},
            AuditTag.DAY_APPROVAL_REFUSED,
            {**details, "reason": "role"},
        )
    return _approve(c, user, approval, note, details)


def _approve(c: StudioContext, user: User, approval, note: str | None, details: dict[str, Any]) -> Outcome:
    path = c.settings.schedule_path
    with c.write_lock:
        frozen = frozen_days(c.store)
        if approval.day in frozen:
            return _with(_started(approval.day), details)
        current = read_text(path)
        checked = check_day(c.settings, frozen, current, approval.day, approval.fields)
        if not checked.ok:
            return Outcome(
                422, {"problems": checked.problems}, AuditTag.DAY_APPROVAL_REFUSED, {**details, "reason": "invalid"}
            )
        if not c.ledger.decide(approval.id, ApprovalState.APPROVED, user_id=user.id, at=c.clock(), note=note):
            return Outcome(409, {"error": "already decided"})
        etag = write_if_unchanged(path, checked.text, etag_of(current))
        requester = c.ledger.user_by_id(approval.requested_by)
        revision = c.ledger.add_revision(
            user_id=approval.requested_by,
            path=SCHEDULE,
            day=approval.day,
            summary=_summary(approval.day, approval.fields) + f" (approved by {user.email})",
            before=current,
            after=checked.text,
            at=c.clock(),
        )
        details = {**details, "revision": revision, "editor": requester.email if requester else None}
        return Outcome(
            200,
            {"state": ApprovalState.APPROVED.value, "revision": revision, "etag": etag},
            AuditTag.DAY_APPROVED,
            details,
        )


def restore(c: StudioContext, user: User, revision_id: int, to: str) -> Outcome:
    """The file as it was before (`to="before"`) or after (`"after"`) revision `revision_id`, as a new revision."""
    revision = c.ledger.revision(revision_id)
    if revision is None or to not in ("before", "after"):
        return Outcome(404, {"error": "no such revision"})
    target = revision.before if to == "before" else revision.after
    details = {"revision": revision_id, "to": to}
    if revision.path == ARTICLE:
        current_article = read_text(c.settings.content_dir / "article.md")
        outcome = save_article(c, user, target, etag_of(current_article), restored_from=revision_id)
        if outcome.status == 200 and outcome.body.get("revision"):
            outcome.tag, outcome.details = (
                AuditTag.REVISION_RESTORED,
                {**details, "new_revision": outcome.body["revision"]},
            )
        return outcome
    path = c.settings.schedule_path
    with c.write_lock:
        frozen = frozen_days(c.store)
        current = read_text(path)
        if target == current:
            return Outcome(200, {"revision": None, "etag": etag_of(current), "unchanged": True})
        try:
            project = load_project(c.settings, frozen, schedule_text=target)
            project.check_safe_messaging()
        except InvalidInput as err:
            problems = [{"field": "", "message": line} for line in err.lines()]
            return Outcome(422, {"problems": problems}, AuditTag.DAY_SAVE_REJECTED, {**details, "reason": "invalid"})
        soon = _changed_days_within_approval(c, project, current, target)
        if soon:
            message = f"restoring would change {', '.join(map(label, soon))}, sending within approval_hours: edit the day instead"
            return Outcome(
                409, {"error": message}, AuditTag.DAY_SAVE_REJECTED, {**details, "reason": "approval window"}
            )
        etag = write_if_unchanged(path, target, etag_of(current))
        new = c.ledger.add_revision(
            user_id=user.id,
            path=SCHEDULE,
            day=revision.day,
            summary=f"restore of revision {revision_id} ({to})",
            before=current,
            after=target,
            at=c.clock(),
            restored_from=revision_id,
        )
        return Outcome(
            200, {"revision": new, "etag": etag}, AuditTag.REVISION_RESTORED, {**details, "new_revision": new}
        )


def _changed_days_within_approval(c: StudioContext, project, current: str, target: str) -> list[date]:
    from campaign.series.schedule import parse_schedule

    try:
        before = parse_schedule(current).schedule.days
    except InvalidInput:
        before = {}
    schedule = project.schedule
    now = c.clock()
    return [
        day
        for day, entry in schedule.days.items()
        if before.get(day) != entry and _sends_soon(c, schedule, day, now) and day not in project.frozen
    ]


def _sends_soon(c: StudioContext, schedule, day: date, now) -> bool:
    """The day sends within approval_hours. An evergreen part (start: on_join) has no date: it sends soon when
    it is some reader's next part — and part 1 always does (anyone may join before the next send time)."""
    window = timedelta(hours=schedule.campaign.approval_hours)
    if not schedule.campaign.on_join:
        return schedule.send_at(day) - now < window
    return window > timedelta(0) and (day == schedule.dates[0] or day in c.store.next_parts(schedule.dates))


ARTICLE = "content/article.md"


def save_article(
    c: StudioContext, user: User, text: str, if_match: str | None, *, restored_from: int | None = None
) -> Outcome:
    """content/article.md replaced by `text`: checked first, guarded by its ETag, refused (409) when it would
    change the text of a day sending within approval_hours (edit closer to the send day by day, with approval)."""
    from campaign.studio.checking import check_article

    path = c.settings.content_dir / "article.md"
    details: dict[str, Any] = {"file": ARTICLE}
    with c.write_lock:
        frozen = frozen_days(c.store)
        current = read_text(path)
        if not if_match or if_match != etag_of(current):
            return _with(_conflict(EditConflict(ARTICLE, current, etag_of(current))), details)
        checked = check_article(c.settings, frozen, read_text(c.settings.schedule_path), text)
        if not checked.ok or checked.project is None:
            outcome = Outcome(422, {"problems": checked.problems}, AuditTag.DAY_SAVE_REJECTED, {"reason": "invalid"})
            return _with(outcome, details)
        if text == current:
            return Outcome(200, {"revision": None, "etag": etag_of(current), "unchanged": True})
        schedule = checked.project.schedule
        soon = [m["date"] for m in checked.moves if _sends_soon(c, schedule, date.fromisoformat(m["date"]), c.clock())]
        if soon:
            message = f"this edit changes the text of {', '.join(label(date.fromisoformat(d)) for d in soon)}, sending within approval_hours"
            outcome = Outcome(409, {"error": message}, AuditTag.DAY_SAVE_REJECTED, {"reason": "approval window"})
            return _with(outcome, details)
        try:
            etag = write_if_unchanged(path, text, etag_of(current))
        except EditConflict as err:
            return _with(_conflict(err), details)
        moved = [m["date"] for m in checked.moves]
        revision = c.ledger.add_revision(
            user_id=user.id,
            path=ARTICLE,
            day=None,
            summary=(f"restore of revision {restored_from}: " if restored_from else "")
            + f"article: {len(moved)} days change"
            + (f" ({moved[0]} – {moved[-1]})" if moved else ""),
            before=current,
            after=text,
            at=c.clock(),
            restored_from=restored_from,
        )
        body = {"revision": revision, "etag": etag, "moves": checked.moves}
        return Outcome(200, body, AuditTag.ARTICLE_SAVED, {**details, "revision": revision, "days": moved})
