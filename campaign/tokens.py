"""Signed, opaque tokens for links in emails (itsdangerous, keyed by CAMPAIGN_SECRET_KEY).

An unsubscribe token carries the subscriber's id, never the address, and is rejected when altered.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 7 * 24 * 3600


class Tokens:
    def __init__(self, secret_key: str):
        self._unsubscribe = URLSafeSerializer(secret_key, salt="campaign.unsubscribe")
        self._confirm = URLSafeTimedSerializer(secret_key, salt="campaign.confirm")

    def unsubscribe(self, subscriber_id: int) -> str:
        return self._unsubscribe.dumps(subscriber_id)

    def read_unsubscribe(self, token: str) -> int | None:
        try:
            value = self._unsubscribe.loads(token)
        except BadData:
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def confirm(self, subscriber_id: int) -> str:
        return self._confirm.dumps(subscriber_id)

    def read_confirm(self, token: str, *, max_age: int = CONFIRM_MAX_AGE) -> int | None:
        try:
            value = self._confirm.loads(token, max_age=max_age)
        except BadData:
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url}/unsubscribe/{token}"
