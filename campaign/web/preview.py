"""The organiser's preview (`campaign serve --preview`, on 127.0.0.1 by default).

Every request reads schedule.yaml, content/ and templates/ afresh and renders through the real pipeline, so an
organiser can edit a file and reload. A day's page shows the email at phone width and desktop width side by
side, for any crisis-resource country; an invalid edit shows the same file:line errors as `campaign
validate`, on the page.
"""

from __future__ import annotations

from flask import Blueprint, make_response, request

from campaign.errors import InvalidInput
from campaign.series.project import Project, load_project
from campaign.web.context import current
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.security import email_document

bp = Blueprint("preview", __name__)

SAMPLE_NAME = "Alex"
WIDTHS = (("Phone", 375), ("Desktop", 700))


def _fresh() -> Project:
    return load_project(current().settings)


def _problems(err: InvalidInput):
    return render_page("preview_problems.html.j2", status=422, problems=err.lines(), campaign=None)


def _variant(project: Project) -> tuple[str | None, str]:
    country = (request.args.get("country") or "").upper() or None
    if country and country not in project.crisis.countries and country != "INTL":
        country = None
    variant = "INTL" if country == "INTL" else project.variant_for(country)
    return country, variant


@bp.get("/")
@bp.get("/preview/")
def index():
    try:
        project = _fresh()
    except InvalidInput as err:
        return _problems(err)
    days = [(project.schedule.day_number(d), d, project.schedule.days[d]) for d in project.schedule.dates]
    return render_page("preview_index.html.j2", days=days, campaign=project.schedule.campaign)


@bp.get("/preview/<day>")
def day_page(day: str):
    try:
        project = _fresh()
    except InvalidInput as err:
        return _problems(err)
    when = _day_or_none(project, day)
    if when is None:
        return error_response(404)
    country, variant = _variant(project)
    web = request.args.get("web") == "1"
    try:
        findings = project.check_safe_messaging([when])
        project.render(when, variant, web=web)  # errors show here, not inside the frames
    except InvalidInput as err:
        return _problems(err)
    dates = project.schedule.dates
    index_ = dates.index(when)
    query = {k: v for k, v in (("country", country), ("web", "1" if web else None)) if v}
    return render_page(
        "preview_day.html.j2",
        campaign=project.schedule.campaign,
        day=when,
        number=index_ + 1,
        total=len(dates),
        entry=project.schedule.days[when],
        previous=dates[index_ - 1] if index_ else None,
        following=dates[index_ + 1] if index_ + 1 < len(dates) else None,
        countries=sorted(project.crisis.countries),
        selected_country=country or "",
        web=web,
        widths=WIDTHS,
        query=query,
        findings=findings,
    )


@bp.get("/preview/<day>/email.html")
def email_html(day: str):
    return _email(day, "html")


@bp.get("/preview/<day>/email.txt")
def email_text(day: str):
    return _email(day, "text")


def _email(day: str, part: str):
    try:
        project = _fresh()
        when = _day_or_none(project, day)
        if when is None:
            return error_response(404)
        _, variant = _variant(project)
        web = request.args.get("web") == "1"
        rendered = project.render(when, variant, web=web)
    except InvalidInput as err:
        return _problems(err)
    html, text = rendered.merge(
        unsubscribe_url=f"{current().settings.public_url}/unsubscribe/preview", name=SAMPLE_NAME
    )
    response = make_response(html if part == "html" else text, 200)
    response.mimetype = "text/html" if part == "html" else "text/plain"
    return email_document(response, framable_by_self=True) if part == "html" else response


def _day_or_none(project: Project, day: str):
    try:
        return project.schedule.resolve_day(day)
    except InvalidInput:
        return None
