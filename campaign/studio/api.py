"""The studio's JSON API — the page itself uses it, and so can other tools.

GET  /studio/api/session                  the user, role and CSRF token
GET  /studio/api/days                     one object per day (ETag: schedule.yaml's version)
PUT  /studio/api/days/YYYY-MM-DD          subject, preheader, note; If-Match + X-CSRF-Token
                                          200 saved · 202 held · 409 started/stale · 422 invalid · 403 · 401
GET  /studio/api/revisions                newest first; GET /studio/api/revisions/<id> with the diff
POST /studio/api/revisions/<id>/restore   {"to": "after" | "before"}
GET  /studio/api/approvals                held edits
POST /studio/api/approvals/<id>           {"decision": "approve" | "reject", "note": …}
POST /studio/api/preview                  a day's fields -> html, text, findings (nothing saved)
"""

from __future__ import annotations

import difflib
import secrets
from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from campaign.delivery.as_sent import frozen_days
from campaign.errors import InvalidInput, Malformed
from campaign.ledger.states import IssueState
from campaign.series.edit import DAY_FIELDS, PIN, etag_of, read_text
from campaign.series.edition import Edition
from campaign.series.parts import field_of, from_path, is_part_key, label
from campaign.series.project import load_project
from campaign.studio.auth import audit
from campaign.studio.checking import as_sent, check_day
from campaign.studio.context import ctx, user
from campaign.studio.saving import Outcome, decide, restore, save_day
from campaign.web.webhooks.common import parse_json

bp = Blueprint("studio_api", __name__, url_prefix="/studio/api")

MAX_FIELD = 5000
OPENING = 160


def json_body() -> Any:
    """The request's JSON (bounded nesting, as web's webhooks read theirs), or None when it is not JSON."""
    try:
        return parse_json(request.get_data(cache=True))
    except Malformed:
        return None


def json_error(status: int, message: str, **extra):
    return jsonify({"error": message, "status": status, **extra}), status


def answer_outcome(outcome: Outcome):
    if outcome.tag is not None:
        audit(outcome.tag, user=user(), **outcome.details)
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    if "etag" in outcome.body and outcome.body["etag"]:
        response.headers["ETag"] = outcome.body["etag"]
    return response


def _day(text: str) -> date | None:
    return from_path(text)  # a date, part-3, or a part's key as `days` lists it


MAX_PINS, MAX_PIN = 20, 300


def _fields(body: Any) -> dict[str, Any] | str:
    """The day fields of a JSON body (subject, preheader, note; `pins`: a list of section headings), or why
    they are unusable."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    fields: dict[str, Any] = {}
    if "pins" in body:
        pins = body["pins"]
        if pins is not None and (
            not isinstance(pins, list)
            or len(pins) > MAX_PINS
            or not all(isinstance(p, str) and 0 < len(p) <= MAX_PIN for p in pins)
        ):
            return f"pins must be a list of at most {MAX_PINS} section headings"
        fields[PIN] = pins or []
    for key in DAY_FIELDS:
        if key not in body:
            continue
        value = body[key]
        if value is not None and not isinstance(value, str):
            return f"{key} must be a string"
        if value is not None and len(value) > MAX_FIELD:
            return f"{key} is longer than {MAX_FIELD} characters"
        fields[key] = value
    return fields


@bp.get("/session")
def session_info():
    u = user()
    return jsonify({"user": u.email, "role": u.role.value, "csrf_token": ctx().csrf.token()})


def day_states(store, frozen) -> dict[date, str]:
    states = store.issue_states()
    return {
        day: (IssueState.SENT if getattr(states.get(day), "state", None) == IssueState.SENT else IssueState.FROZEN)
        for day in frozen
    }


@bp.get("/days")
def days():
    c = ctx()
    text = read_text(c.settings.schedule_path)
    frozen = frozen_days(c.store)
    try:
        project = load_project(c.settings, frozen, schedule_text=text)
    except InvalidInput as err:
        return json_error(
            422, "schedule.yaml does not load", problems=[{"field": "", "message": m} for m in err.lines()]
        )
    states = day_states(c.store, frozen)
    findings: dict[date, list[dict[str, str]]] = {}
    for f in project.lint():
        level = "error" if f.hit.level == "error" and not f.acknowledged else "warning"
        findings.setdefault(f.day, []).append({"field": f.field.split()[0], "level": level, "message": f"lint: {f}"})
    for w in project.loaded.warnings:
        for day in project.schedule.dates:
            if w.field.startswith(field_of(day) + "."):
                findings.setdefault(day, []).append(
                    {"field": w.field.rsplit(".", 1)[-1], "level": "warning", "message": f"warning: {w}"}
                )
    out = []
    for part in project.plan.parts:
        entry = project.frozen.get(part.day) or project.schedule.days[part.day]
        pins = project.schedule.days[part.day].pin if part.day in project.schedule.days else []
        first = part.blocks[0].text.replace("\n", " ") if part.blocks else ""
        out.append(
            {
                "date": part.day.isoformat(),  # the key of the day (an evergreen part's: series/parts.py)
                "label": label(part.day),
                "number": part.number,
                "state": states.get(part.day, IssueState.PLANNED),
                "subject": entry.subject,
                "preheader": entry.preheader,
                "note": entry.note,
                "pins": list(pins),
                "words": part.words,
                "opening": first[:OPENING] + ("…" if len(first) > OPENING else ""),
                "findings": findings.get(part.day, []),
                "send_at": project.schedule.send_at(part.day).isoformat()
                if part.day in project.schedule.days and not is_part_key(part.day)
                else None,
            }
        )
    response = jsonify({"days": out, "etag": etag_of(text), "approval_hours": project.schedule.campaign.approval_hours})
    response.headers["ETag"] = etag_of(text)
    return response


@bp.put("/days/<day>")
def put_day(day: str):
    when = _day(day)
    if when is None:
        return json_error(404, "no such day")
    fields = _fields(json_body())
    if isinstance(fields, str):
        return json_error(422, fields, problems=[{"field": "", "message": fields}])
    return answer_outcome(save_day(ctx(), user(), when, fields, request.headers.get("If-Match")))


@bp.post("/preview")
def preview():
    c = ctx()
    body = json_body()
    if not isinstance(body, dict):
        body = {}
    when = _day(str(body.get("date", "")))
    fields = _fields(body)
    if when is None or isinstance(fields, str):
        return json_error(422, fields if isinstance(fields, str) else "date must be YYYY-MM-DD")
    dark = bool(body.get("dark"))
    frozen = frozen_days(c.store)
    country = str(body.get("country") or "")[:4].upper() or None
    if when in frozen:  # what went out: its fields are read-only
        record = c.store.edition(when)
        edition = Edition.from_record(record) if record else None
        sent = as_sent(c.settings, frozen, when, edition=edition, country=country, dark=dark)
        answer = {"html": sent.html, "text": sent.plain, "findings": sent.findings, "frame": _frame(sent.html)}
        return jsonify({**answer, "ok": sent.ok, "read_only": True})
    current = read_text(c.settings.schedule_path)
    checked = check_day(c.settings, frozen, current, when, fields, dark=dark, country=country)
    return jsonify(
        {
            "html": checked.html,
            "text": checked.plain,
            "findings": checked.findings,
            "frame": _frame(checked.html),
            "ok": checked.ok,
            "moves": checked.moves,
        }
    )


def _frame(html: str | None) -> str | None:
    if html is None:
        return None
    frame_id = secrets.token_urlsafe(18)
    ctx().keep_frame(frame_id, html)
    return f"/studio/frame/{frame_id}"


@bp.get("/revisions")
def revisions():
    return jsonify(
        {
            "revisions": [
                {
                    "id": r.id,
                    "at": r.created_at.isoformat(),
                    "user": r.email,
                    "path": r.path,
                    "day": r.day.isoformat() if r.day else None,
                    "summary": r.summary,
                    "restored_from": r.restored_from,
                }
                for r in ctx().ledger.list_revisions()
            ]
        }
    )


@bp.get("/revisions/<int:revision_id>")
def revision(revision_id: int):
    r = ctx().ledger.revision(revision_id)
    if r is None:
        return json_error(404, "no such revision")
    diff = "".join(
        difflib.unified_diff(r.before.splitlines(True), r.after.splitlines(True), f"a/{r.path}", f"b/{r.path}")
    )
    return jsonify({"id": r.id, "at": r.created_at.isoformat(), "user": r.email, "summary": r.summary, "diff": diff})


@bp.post("/revisions/<int:revision_id>/restore")
def restore_revision(revision_id: int):
    body = json_body()
    to = body.get("to", "after") if isinstance(body, dict) else "after"
    return answer_outcome(restore(ctx(), user(), revision_id, str(to)))


@bp.get("/approvals")
def approvals():
    c = ctx()
    return jsonify(
        {
            "approvals": [
                {
                    "id": a.id,
                    "day": a.day.isoformat(),
                    "fields": a.fields,
                    "state": a.state.value,
                    "requested_by": a.requested_by,
                    "requested_at": a.requested_at.isoformat(),
                    "note": a.note,
                }
                for a in c.ledger.list_approvals()
            ]
        }
    )


@bp.post("/approvals/<int:approval_id>")
def approval(approval_id: int):
    body = json_body()
    if not isinstance(body, dict) or body.get("decision") not in ("approve", "reject"):
        return json_error(422, 'the body must be {"decision": "approve" | "reject", "note": …}')
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        return json_error(422, "note must be a string of at most 2000 characters")
    return answer_outcome(decide(ctx(), user(), approval_id, body["decision"], note))


@bp.get("/audit")
def audit_log():
    if not user().is_admin:
        return json_error(403, "the audit log is for admins")
    events = ctx().ledger.audit_events(limit=1000)
    return jsonify(
        {
            "events": [
                {"at": e.at.isoformat(), "tag": e.tag, "user": e.email, "client": e.client, "additional": e.additional}
                for e in events
            ]
        }
    )
