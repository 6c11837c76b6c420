"""The subscriber-facing web app (`campaign serve`): one-click unsubscribe, the archive ("view in browser"),
confirmed sign-up, provider webhooks. (The organisers' preview and editor is `campaign studio`: campaign/studio/.)

One module per job: app.py builds the app; unsubscribe.py, archive.py, signup.py and webhooks/
(one protocol, protocol.py, that each provider module implements) hold the routes; security.py, csrf.py,
ratelimit.py and error_pages.py the hardening; reminders.py the one reminder for an unconfirmed sign-up.
May import: delivery, providers, ledger, series, errors, config, clock (never timing or cli).
"""

from campaign.web.app import create_app, server_options

__all__ = ["create_app", "server_options"]
