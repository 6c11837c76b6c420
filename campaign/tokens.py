"""Signed, opaque tokens for links in emails (itsdangerous, keyed by CAMPAIGN_SECRET_KEY).

An unsubscribe token carries the subscriber's id, never the address, and is rejected when altered — by any
character: itsdangerous decodes URL-safe base64 leniently (the last character of a segment carries padding
bits it ignores, so "…Skw" and "…Skx" can verify alike), so a token that does not re-encode to itself is
refused before its signature is checked.
"""

from __future__ import annotations

import binascii

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

CONFIRM_MAX_AGE = 7 * 24 * 3600
MAX_TOKEN_LENGTH = 300


def _canonical(token: str) -> bool:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    try:
        return all(base64_encode(base64_decode(part)).decode("ascii") == part for part in token.split("."))
    except (BadData, binascii.Error, ValueError, UnicodeError, TypeError):
        return False


def _subscriber_id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Tokens:
    def __init__(self, secret_key: str):
        self._unsubscribe = URLSafeSerializer(secret_key, salt="campaign.unsubscribe")
        self._confirm = URLSafeTimedSerializer(secret_key, salt="campaign.confirm")

    def unsubscribe(self, subscriber_id: int) -> str:
        return self._unsubscribe.dumps(subscriber_id)

    def read_unsubscribe(self, token: str) -> int | None:
        if not _canonical(token):
            return None
        try:
            return _subscriber_id(self._unsubscribe.loads(token))
        except BadData:
            return None

    def confirm(self, subscriber_id: int) -> str:
        return self._confirm.dumps(subscriber_id)

    def read_confirm(self, token: str, *, max_age: int = CONFIRM_MAX_AGE) -> int | None:
        if not _canonical(token):
            return None
        try:
            return _subscriber_id(self._confirm.loads(token, max_age=max_age))
        except BadData:
            return None


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url}/unsubscribe/{token}"
