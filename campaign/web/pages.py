"""Rendering the subscriber-facing pages (templates/web/*.html.j2) with what every page shows.

Every page carries the campaign's name and, like every email, the crisis resources (from
content/crisis_resources.yaml, never typed into a template): a reader who unsubscribes from a suicide-
prevention series may be the one who most needs them.
"""

from __future__ import annotations

from flask import make_response, render_template

from campaign.web.context import current


def crisis_block(country: str | None = None):
    project = current().project
    if project is None:
        return None
    return project.crisis.block(project.variant_for(country))


def render_page(template: str, *, status: int = 200, country: str | None = None, **context):
    ctx = current()
    project = ctx.project
    campaign = project.schedule.campaign if project else None
    values = {
        "campaign": campaign,
        "crisis": crisis_block(country),
        "public_url": ctx.settings.public_url,
        **context,
    }
    body = render_template(template, **values)
    response = make_response(body, status)
    response.mimetype = "text/html"
    return response
