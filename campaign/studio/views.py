"""Rendering the studio's own pages (campaign/studio/templates: part of the product, not the organiser's
templates/ folder) in Jinja2's sandbox, autoescaped — a subject holding `<script>` shows as text."""

from __future__ import annotations

from flask import g, make_response, render_template


def page(template: str, *, status: int = 200, **context):
    from campaign.studio.context import ctx

    values = {"user": g.get("studio_user"), **context}
    if values["user"] is not None and "csrf_token" not in values:
        values["csrf_token"] = ctx().csrf.token()
    response = make_response(render_template(template, **values), status)
    response.mimetype = "text/html"
    return response
