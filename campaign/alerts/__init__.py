"""alerts — nothing fails silently: alert channels, dedupe, the deliverability breaker.

Owns: what an alert is (kinds.py), where it goes (channels.py: the operators' and organisers' email through
the configured provider as transactional mail — never the subscriber ledger — and CAMPAIGN_ALERT_WEBHOOK_URL,
a JSON POST whose `text` Slack, Mattermost and Teams-style webhooks show), raising one (center.py: recorded
with a dedupe key, so a cause alerts once a day; delivered on a background thread with retries and back-off,
so an alert never delays a send), the complaint/bounce circuit breaker (breaker.py), and one-line
descriptions of a full disk or a failing database (storage.py).
An alert carries counts and the names of settings only: never a secret, never a subscriber's address.
May import: providers, ledger, series, and errors/config/clock. Called by delivery's callers, timing, web
and cli; never imports them.
"""
