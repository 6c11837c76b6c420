"""`POST /webhooks/<provider>`: bounces, complaints and provider-side unsubscribes from the email provider.

Provider-agnostic: every provider implements `WebhookProvider` (protocol.py). The route refuses an oversized
body (413) before the provider sees it, asks the provider to authenticate the raw request, applies the
one-time guard against replays, and only then lets the provider parse the body:
401 (not configured, missing or bad auth, stale, replayed) and 400 (malformed) change nothing; 200 means
every event was stored and the affected subscribers suppressed, or that a re-delivery was acknowledged.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, jsonify, request

from campaign.config import Settings
from campaign.errors import AlreadyProcessed, Malformed, Unauthorized
from campaign.web.context import site
from campaign.web.error_pages import error_response
from campaign.web.webhooks.breaker import check_breaker_after
from campaign.web.webhooks.common import COMPLAINT, HARD_BOUNCE, apply_events
from campaign.web.webhooks.mailgun import MailgunWebhook
from campaign.web.webhooks.postmark import PostmarkWebhook
from campaign.web.webhooks.protocol import Verified, WebhookProvider, WebhookRequest
from campaign.web.webhooks.resend import ResendWebhook
from campaign.web.webhooks.sendgrid import SendGridWebhook

log = logging.getLogger("campaign.web")

PROVIDERS: dict[str, type[WebhookProvider]] = {
    cls.name: cls for cls in (PostmarkWebhook, SendGridWebhook, MailgunWebhook, ResendWebhook)
}

bp = Blueprint("webhooks", __name__)


def load_webhooks(settings: Settings) -> dict[str, WebhookProvider]:
    """The configured webhooks by provider name. A malformed secret raises ConfigurationError at start-up."""
    hooks: dict[str, WebhookProvider] = {}
    for name, cls in PROVIDERS.items():
        hook = cls.from_settings(settings)
        if hook is not None:
            hooks[name] = hook
    return hooks


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    cls = PROVIDERS.get(provider)
    if cls is None:
        return error_response(404)
    ctx = site()
    hook = ctx.webhooks.get(provider)
    if hook is None:
        log.warning("%s webhook called, but its secret is not configured: refused", provider)
        return error_response(401, title="Unauthorized", headers=cls.refusal_headers())
    if (request.content_length or 0) > hook.max_body:
        return error_response(413)
    body = request.stream.read(hook.max_body + 1)  # raw bytes: no form or JSON decoding by Flask
    if len(body) > hook.max_body:
        return error_response(413)
    now = ctx.clock()
    try:
        headers = {name.lower(): value for name, value in request.headers.items()}
        verified = hook.authenticate(WebhookRequest(headers, body, now))
        _once(ctx.store, provider, verified, now)
        events = hook.parse(body)
    except Unauthorized as err:
        log.warning("%s webhook refused: %s", provider, err)
        return error_response(401, title="Unauthorized", headers=hook.refusal_headers())
    except AlreadyProcessed:
        return jsonify({"ok": True, "events": 0, "duplicate": True})
    except Malformed as err:
        log.warning("%s webhook with a malformed body: %s", provider, err)
        return error_response(400, title=f"Malformed payload: {err}")
    try:
        changed = apply_events(ctx.store, provider, events, at=now)
    except Exception:  # the database failed us: let the provider retry the same request (503, not 500)
        log.exception("%s webhook: could not apply %d event(s); the provider will retry", provider, len(events))
        if verified.once is not None:
            with contextlib.suppress(Exception):
                ctx.store.forget_webhook_token(provider, verified.once)
        return error_response(503, title="Temporarily unavailable: please retry")
    if any(e.kind in (COMPLAINT, HARD_BOUNCE) for e in events):
        check_breaker_after(ctx, now)
    return jsonify({"ok": True, "events": len(events), "suppressed": changed})


def _once(store, provider: str, verified: Verified, now) -> None:
    """A signed one-time value may be used once: a repeat is a replay (401), or a provider's re-delivery
    (acknowledged, nothing applied twice)."""
    if verified.once is None:
        return
    if not store.remember_webhook_token(provider, verified.once, at=now, forget_before=now - verified.keep_for):
        if verified.redelivery:
            raise AlreadyProcessed(verified.once)
        raise Unauthorized("replayed request")
