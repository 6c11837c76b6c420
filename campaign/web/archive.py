"""The archive: the target of every "view in browser" link.

`GET /archive/` lists the days whose send has started; `GET /archive/YYYY-MM-DD` returns the web version the
sender stored when that day's send began — crisis block and disclaimer included, no personal data, a sign-up
link where the unsubscribe link would be. A day not yet sent is a 404, so the archive never shows an issue
before its subscribers get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, make_response

from campaign.series.merge import DEFAULT_NAME, Fill, substitute
from campaign.series.parts import from_url, is_part_key, url_name
from campaign.web.context import site
from campaign.web.error_pages import error_response
from campaign.web.pages import render_page
from campaign.web.security import email_document

bp = Blueprint("archive", __name__)


@dataclass(frozen=True)
class ArchivedIssue:
    """A row of the archive index: its day (a date, or an evergreen part's key), number and subject."""

    day: date
    number: int
    subject: str

    @property
    def path(self) -> str:  # "2027-09-05", or "part-3" (start: on_join)
        return url_name(self.day)

    @property
    def part(self) -> bool:
        return is_part_key(self.day)


CACHE = "public, max-age=300"  # short: a re-archived issue (a corrected send) shows within minutes


@bp.get("/archive/")
def index():
    issues = [ArchivedIssue(r.day, r.number, r.subject) for r in site().store.archived_issues()]
    response = render_page("archive_index.html.j2", issues=issues)
    response.headers["Cache-Control"] = CACHE
    return response


@bp.get("/archive/<day>")
def issue(day: str):
    when = from_url(day)
    if when is None:
        return error_response(404)
    row = site().store.archived_issue(when)
    if row is None:
        return error_response(
            404,
            title="This issue is not published yet",
            message="Each day's email appears here once it has been sent. See the archive for the days already sent.",
        )
    response = make_response(_without_personal_fields(row.web_html), 200)
    response.mimetype = "text/html"
    response.headers["Cache-Control"] = CACHE
    return email_document(response)


def _without_personal_fields(web_html: str) -> str:
    """The web version is rendered without merge fields; a customised template could still carry one, and an
    archive page must never show a placeholder (or anybody's link)."""
    subscribe = f"{site().settings.public_url}/subscribe"
    return substitute(web_html, "", Fill(subscribe, DEFAULT_NAME, subscribe, DEFAULT_NAME))[0]
