"""The article in the studio: read, check while typing (which paragraphs move to which day), save.

GET  /studio/api/article           {text, etag}
POST /studio/api/article/check     {text} -> {findings, moves, ok}: nothing saved
PUT  /studio/api/article           {text} + If-Match: 200 · 409 stale or too close to a send · 422 invalid
GET  /studio/article               the page
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from campaign.delivery.as_sent import frozen_days
from campaign.series.edit import etag_of, read_text
from campaign.studio.api import answer_outcome, json_body, json_error
from campaign.studio.checking import check_article
from campaign.studio.context import ctx, user
from campaign.studio.saving import save_article
from campaign.studio.views import page

bp = Blueprint("studio_article", __name__, url_prefix="/studio")

MAX_ARTICLE_CHARS = 600_000


def _text() -> str | None:
    body = json_body()
    text = body.get("text") if isinstance(body, dict) else None
    return text if isinstance(text, str) and len(text) <= MAX_ARTICLE_CHARS else None


@bp.get("/api/article")
def article():
    text = read_text(ctx().settings.content_dir / "article.md")
    response = jsonify({"text": text, "etag": etag_of(text)})
    response.headers["ETag"] = etag_of(text)
    return response


@bp.post("/api/article/check")
def check():
    c = ctx()
    text = _text()
    if text is None:
        return json_error(422, '"text" must be the article (a string)')
    checked = check_article(c.settings, frozen_days(c.store), read_text(c.settings.schedule_path), text)
    return jsonify({"findings": checked.findings, "moves": checked.moves, "ok": checked.ok})


@bp.put("/api/article")
def save():
    text = _text()
    if text is None:
        return json_error(422, '"text" must be the article (a string)', problems=[{"field": "", "message": "no text"}])
    return answer_outcome(save_article(ctx(), user(), text, request.headers.get("If-Match")))


@bp.post("/article")
def article_form():
    """The article page's form without its script: the same save as the API's PUT."""
    from campaign.studio.pages import done

    text = (request.form.get("text") or "")[:MAX_ARTICLE_CHARS]
    return done(save_article(ctx(), user(), text, request.form.get("etag")), "/studio/article")


@bp.get("/article")
def article_page():
    from campaign.studio.pages import MESSAGES

    text = read_text(ctx().settings.content_dir / "article.md")
    message = MESSAGES.get(request.args.get("done", type=int) or 0)
    return page("article.html.j2", text=text, etag=etag_of(text), message=message)
