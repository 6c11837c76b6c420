"""`POST /webhooks/<provider>`: bounces, complaints and provider-side unsubscribes from the email provider.

Each provider module authenticates the request and parses its body into normalised events; this module
turns the outcome into a status code: 401 (not configured, missing or bad auth, stale, replayed) and 400
(malformed) change nothing; 200 means every event was stored and the affected subscribers suppressed.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from campaign.config import Settings
from campaign.web.context import current
from campaign.web.error_pages import error_response
from campaign.web.webhooks.common import Malformed, Unauthorized, apply_events
from campaign.web.webhooks.mailgun import MailgunWebhook
from campaign.web.webhooks.postmark import PostmarkWebhook
from campaign.web.webhooks.resend import AlreadyProcessed, ResendWebhook
from campaign.web.webhooks.sendgrid import SendGridWebhook

log = logging.getLogger("campaign.web")

PROVIDERS = (PostmarkWebhook, SendGridWebhook, MailgunWebhook, ResendWebhook)

bp = Blueprint("webhooks", __name__)


def load_webhooks(settings: Settings) -> dict:
    """The configured webhooks by provider name. A malformed secret raises ConfigurationError at start-up."""
    hooks = {}
    for cls in PROVIDERS:
        hook = cls.from_settings(settings)
        if hook is not None:
            hooks[cls.name] = hook
    return hooks


def _unauthorized(hook_name: str):
    headers = {}
    if hook_name == PostmarkWebhook.name:
        headers["WWW-Authenticate"] = f'Basic realm="{PostmarkWebhook.realm}"'
    return error_response(401, title="Unauthorized", headers=headers)


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    if provider not in {cls.name for cls in PROVIDERS}:
        return error_response(404)
    ctx = current()
    hook = ctx.webhooks.get(provider)
    if hook is None:
        log.warning("%s webhook called, but its secret is not configured: refused", provider)
        return _unauthorized(provider)
    body = request.get_data(cache=True)
    now = ctx.clock()
    try:
        hook.authenticate(request, body, now=now, store=ctx.store)
        events = hook.parse(request, body)
    except Unauthorized as err:
        log.warning("%s webhook refused: %s", provider, err)
        return _unauthorized(provider)
    except AlreadyProcessed:
        return jsonify({"ok": True, "events": 0, "duplicate": True})
    except Malformed as err:
        log.warning("%s webhook with a malformed body: %s", provider, err)
        return error_response(400, title=f"Malformed payload: {err}")
    changed = apply_events(ctx.store, provider, events, at=now)
    return jsonify({"ok": True, "events": len(events), "suppressed": changed})
