"""The studio's HTML pages: the series, a day (live checking and preview), history, the audit log (admins).

Pages are rendered on the server from the same data the JSON API returns; the day page's script
(static/studio.js) then uses the API to check and preview while the organiser types.
"""

from __future__ import annotations

import difflib
from datetime import date

from flask import Blueprint, redirect, request

from campaign.delivery.as_sent import frozen_days
from campaign.errors import InvalidInput
from campaign.ledger.states import IssueState
from campaign.series.edit import etag_of, read_text
from campaign.series.parts import from_path
from campaign.series.project import load_project
from campaign.studio.api import day_states
from campaign.studio.auth import audit as record
from campaign.studio.context import ctx, user
from campaign.studio.saving import Outcome, decide, restore, save_day
from campaign.studio.views import page

bp = Blueprint("studio_pages", __name__, url_prefix="/studio")

WIDTHS = (375, 800)


def _project():
    c = ctx()
    text = read_text(c.settings.schedule_path)
    frozen = frozen_days(c.store)
    return text, frozen, load_project(c.settings, frozen, schedule_text=text)


@bp.get("/")
def series():
    try:
        text, frozen, project = _project()
    except InvalidInput as err:
        return page("problems.html.j2", status=422, problems=err.lines())
    states = day_states(ctx().store, frozen)
    findings: dict[date, list] = {}
    for f in project.lint():
        findings.setdefault(f.day, []).append(f)
    days = []
    for part in project.plan.parts:
        entry = project.frozen.get(part.day) or project.schedule.days[part.day]
        first = part.blocks[0].text.replace("\n", " ") if part.blocks else ""
        days.append(
            {
                "date": part.day,
                "number": part.number,
                "state": states.get(part.day, IssueState.PLANNED),
                "entry": entry,
                "pins": project.schedule.days[part.day].pin if part.day in project.schedule.days else [],
                "words": part.words,
                "opening": first[:160] + ("…" if len(first) > 160 else ""),
                "findings": [str(f) for f in findings.get(part.day, [])],
            }
        )
    pending = ctx().ledger.list_approvals(pending_only=True)
    return page("series.html.j2", days=days, campaign=project.schedule.campaign, pending=pending, etag=etag_of(text))


@bp.get("/days/<day>")
def day_page(day: str):
    try:
        when = _when(day)
        text, frozen, project = _project()
    except ValueError:
        return page("message.html.j2", status=404, title="No such day", message="Pick a day from the series.")
    except InvalidInput as err:
        return page("problems.html.j2", status=422, problems=err.lines())
    if when not in project.schedule.days:
        return page("message.html.j2", status=404, title="No such day", message="Pick a day from the series.")
    dates = project.schedule.dates
    index = dates.index(when)
    state = day_states(ctx().store, frozen).get(when, IssueState.PLANNED)
    entry = project.frozen.get(when) or project.schedule.days[when]
    return page(
        "day.html.j2",
        day=when,
        number=index + 1,
        total=len(dates),
        state=state,
        read_only=state != IssueState.PLANNED,
        entry=entry,
        pins=project.schedule.days[when].pin,
        etag=etag_of(text),
        previous=dates[index - 1] if index else None,
        following=dates[index + 1] if index + 1 < len(dates) else None,
        countries=sorted(project.crisis.countries),
        default_country=project.schedule.campaign.default_country,
        widths=WIDTHS,
        send_at=None if project.schedule.campaign.on_join else project.schedule.send_at(when),
        approval_hours=project.schedule.campaign.approval_hours,
        message=MESSAGES.get(request.args.get("done", type=int) or 0),
    )


MESSAGES = {
    200: "Done.",
    202: "Held: a second person (approver or admin) must approve it.",
    403: "Refused: you may not do that.",
    404: "Not found.",
    409: "Refused: a conflict (the file changed, the day's send started, or it was already decided).",
    422: "Refused: the result does not pass the checks.",
}


@bp.get("/history")
def history():
    c = ctx()
    revisions = c.ledger.list_revisions()
    shown = request.args.get("revision", type=int)
    diff = None
    if shown is not None:
        r = c.ledger.revision(shown)
        if r is not None:
            diff = list(
                difflib.unified_diff(
                    r.before.splitlines(), r.after.splitlines(), f"a/{r.path}", f"b/{r.path}", lineterm=""
                )
            )
    approvals = c.ledger.list_approvals()
    emails = {u.id: u.email for u in c.ledger.list_users()}
    message = MESSAGES.get(request.args.get("done", type=int) or 0)
    return page(
        "history.html.j2",
        revisions=revisions,
        shown=shown,
        diff=diff,
        approvals=approvals,
        emails=emails,
        message=message,
    )


def done(outcome: Outcome, where: str):
    if outcome.tag is not None:
        record(outcome.tag, user=user(), **outcome.details)
    problems = outcome.body.get("problems")
    if problems:
        return page("problems.html.j2", status=outcome.status, problems=[p["message"] for p in problems])
    return redirect(f"{where}?done={outcome.status}", code=303)


@bp.post("/approvals/<int:approval_id>")
def approval_form(approval_id: int):
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        return page("message.html.j2", status=422, title="Choose approve or reject", message="Choose approve or reject")
    note = (request.form.get("note") or "")[:2000] or None
    return done(decide(ctx(), user(), approval_id, decision, note), "/studio/history")


@bp.post("/revisions/<int:revision_id>/restore")
def restore_form(revision_id: int):
    to = request.form.get("to") or "before"
    return done(restore(ctx(), user(), revision_id, to), "/studio/history")


@bp.post("/days/<day>")
def save_form(day: str):
    """The day page's form without its script: the same save as the API's PUT."""
    try:
        when = _when(day)
    except ValueError:
        return page("message.html.j2", status=404, title="No such day", message="Pick a day from the series.")
    fields: dict[str, object] = {k: (request.form.get(k) or "")[:5000] for k in ("subject", "preheader", "note")}
    fields["pin"] = [line.strip() for line in (request.form.get("pins") or "").splitlines() if line.strip()][:20]
    return done(save_day(ctx(), user(), when, fields, request.form.get("etag")), f"/studio/days/{when.isoformat()}")


@bp.get("/audit")
def audit():
    if not user().is_admin:
        return page("message.html.j2", status=403, title="For admins only", message="The audit log is for admins.")
    return page("audit.html.j2", events=list(reversed(ctx().ledger.audit_events(limit=500))))


def _when(day: str) -> date:
    """A day (2027-09-05) or a part (part-3) in a page URL; ValueError when it names neither."""
    when = from_path(day)
    if when is None:
        raise ValueError(day)
    return when
