"""The organiser's preview (`campaign serve --preview`, on 127.0.0.1 by default).

Every request reads schedule.yaml, content/ and templates/ afresh and renders through the real pipeline, so an
organiser can edit a file and reload. A day's page shows the email at phone and desktop width and its plain-
text part side by side, for any crisis-resource country, in light or dark mode (`?dark=1` applies the
email's own `prefers-color-scheme: dark` rules whatever the organiser's system uses; light switches them
off); an invalid edit shows the same file:line errors as `campaign validate`, on the page.

The email's own links work inside the preview: "View in your browser" opens the archive version of that day,
and the unsubscribe and sign-up links open a page saying what a reader would see (nobody is unsubscribed).
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, make_response, request

from campaign.delivery.as_sent import load_project_as_sent
from campaign.errors import InvalidInput
from campaign.series.project import Project
from campaign.web.context import current
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.security import email_document, framable_by_self

bp = Blueprint("preview", __name__)

SAMPLE_NAME = "Alex"
WIDTHS = (("Phone", 375), ("Desktop", 700))
LINK_PAGES = ("unsubscribe", "subscribe")
PREVIEW_UNSUBSCRIBE = "/unsubscribe/preview"  # the sample reader's link (no token: nothing to unsubscribe)
_DARK_MEDIA = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.I)


def _fresh() -> Project:
    """The files as they are now — with the days already sent as they went out, when there is a ledger."""
    ctx = current()
    return load_project_as_sent(ctx.settings, ctx.ledger)


def _problems(err: InvalidInput):
    return render_page("preview_problems.html.j2", status=422, problems=err.lines(), campaign=None)


def _variant(project: Project) -> tuple[str | None, str]:
    country = (request.args.get("country") or "").upper() or None
    if country and country not in project.crisis.countries and country != "INTL":
        country = None
    variant = "INTL" if country == "INTL" else project.variant_for(country)
    return country, variant


def _options(country: str | None) -> tuple[bool, bool, dict[str, str]]:
    """(web, dark, the query string to keep) from the request."""
    web = request.args.get("web") == "1"
    dark = request.args.get("dark") == "1"
    query = {
        k: v for k, v in (("country", country), ("web", "1" if web else None), ("dark", "1" if dark else None)) if v
    }
    return web, dark, query


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
    web, dark, query = _options(country)
    try:
        findings = project.check_safe_messaging([when])
        rendered = project.render(when, variant, web=web)  # errors show here, not inside the frames
    except InvalidInput as err:
        return _problems(err)
    _, text = rendered.merge(unsubscribe_url=_sample_unsubscribe(), name=SAMPLE_NAME)
    dates = project.schedule.dates
    index_ = dates.index(when)
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
        dark=dark,
        widths=WIDTHS,
        query=query,
        other_scheme={**{k: v for k, v in query.items() if k != "dark"}, **({} if dark else {"dark": "1"})},
        text_part=text,
        findings=findings,
    )


@bp.get("/preview/<day>/email.html")
def email_html(day: str):
    return _email(day, "html")


@bp.get("/preview/<day>/email.txt")
def email_text(day: str):
    return _email(day, "text")


@bp.get("/preview/link/<kind>")
def link_page(kind: str):
    """Where the email's unsubscribe and sign-up links lead in the preview (inside the frame)."""
    if kind not in LINK_PAGES:
        return error_response(404)
    try:
        project = _fresh()
    except InvalidInput as err:
        return _problems(err)
    response = render_page("preview_link.html.j2", kind=kind, campaign=project.schedule.campaign)
    return framable_by_self(response)


def _email(day: str, part: str):
    try:
        project = _fresh()
        when = _day_or_none(project, day)
        if when is None:
            return error_response(404)
        country, variant = _variant(project)
        web, dark, query = _options(country)
        rendered = project.render(when, variant, web=web)
    except InvalidInput as err:
        return _problems(err)
    html, text = rendered.merge(unsubscribe_url=_sample_unsubscribe(), name=SAMPLE_NAME)
    if part == "text":
        response = make_response(text, 200)
        response.mimetype = "text/plain"
        return response
    response = make_response(_in_scheme(_preview_links(html, when, query), dark=dark), 200)
    response.mimetype = "text/html"
    return email_document(response, framable_by_self=True)


def _sample_unsubscribe() -> str:
    return f"{current().settings.public_url}{PREVIEW_UNSUBSCRIBE}"


def _preview_links(html: str, day: date, query: dict[str, str]) -> str:
    """Point the email's own links at the preview: the archive version of this day, and pages standing in
    for the unsubscribe and sign-up pages. Every other link (crisis lines, articles) is left alone."""
    public = current().settings.public_url
    archive = f"/preview/{day.isoformat()}/email.html?" + urlencode({**query, "web": "1"})
    replacements = {
        f"{public}/archive/{day.isoformat()}": archive,
        _sample_unsubscribe(): "/preview/link/unsubscribe",
        f"{public}/subscribe": "/preview/link/subscribe",
    }
    for old, new in replacements.items():
        html = html.replace(f'href="{html_lib.escape(old)}"', f'href="{html_lib.escape(new)}"')
    return html


def _in_scheme(html: str, *, dark: bool) -> str:
    """The email as a dark-mode (or light-mode) client shows it: its own dark rules always (or never) apply."""
    return _DARK_MEDIA.sub("@media all" if dark else "@media not all", html)


def _day_or_none(project: Project, day: str):
    try:
        return project.schedule.resolve_day(day)
    except InvalidInput:
        return None
