"""Signed, opaque tokens for links in emails (itsdangerous, keyed by CAMPAIGN_SECRET_KEY).

An unsubscribe token carries the subscriber's id, never the address, and is rejected when altered — by any
character: itsdangerous decodes URL-safe base64 leniently (the last character of a segment carries padding
bits it ignores, so "…Skw" and "…Skx" can verify alike), so a token that does not re-encode to itself is
refused before its signature is checked.
"""

from __future__ import annotations

import binascii
import hmac
from binascii import b2a_base64
from collections.abc import Callable
from datetime import date

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

CONFIRM_MAX_AGE = 7 * 24 * 3600
PREFERENCES_MAX_DAYS = 180  # a preferences link in an email works for half a year after its email's day
EXPORT_MAX_AGE = 24 * 3600  # the emailed "download my data" link works for a day
MAX_TOKEN_LENGTH = 300


def _canonical(token: str) -> bool:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    try:
        return all(base64_encode(base64_decode(part)).decode("ascii") == part for part in token.split("."))
    except (BadData, binascii.Error, ValueError, UnicodeError, TypeError):
        return False


MAX_SUBSCRIBER_ID = 2**31 - 1  # subscribers.id is INTEGER: int4 on PostgreSQL (SQLite takes up to 2**63 - 1)


def _subscriber_id(value) -> int | None:
    """The id a verified token carries — only an int the database can hold: a token signed with the right key
    over 2**63 (or -1, or 2**31 on PostgreSQL) is as invalid as a forged one (a 400, never an overflow)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if 0 <= value <= MAX_SUBSCRIBER_ID else None


_URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64 → base64url, as base64.urlsafe_b64encode does


class Tokens:
    def __init__(self, secret_key: str):
        self._unsubscribe = URLSafeSerializer(secret_key, salt="campaign.unsubscribe")
        self._confirm = URLSafeTimedSerializer(secret_key, salt="campaign.confirm")
        # Deterministic (the issued *day*, not a timestamp, is signed): a batch resent under the same idempotency
        # key must carry the same bytes (Resend answers 409 to a different payload).
        self._preferences = URLSafeSerializer(secret_key, salt="campaign.preferences")
        self._export = URLSafeTimedSerializer(secret_key, salt="campaign.export")
        # The sender signs one unsubscribe token per recipient, and itsdangerous derives the signing key again
        # for every token (~19 µs). Derive it once (with itsdangerous' own signer) and copy a keyed HMAC per
        # token (~4 µs). The fast tokens are checked against itsdangerous' own at start-up; on any difference
        # (a new token format) the slow, sure path is used instead.
        signer = self._unsubscribe.make_signer()
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        self._sep = signer.sep.encode() if isinstance(signer.sep, str) else signer.sep
        self._sign: Callable[[int], str] = self._fast_unsubscribe
        if any(self._fast_unsubscribe(i) != self._unsubscribe.dumps(i) for i in (0, 7, 123456, 2**31)):
            self._sign = self._unsubscribe.dumps
        # The same for the preferences token (one per recipient too): JSON `[id,day]`, compact.
        prefs = self._preferences.make_signer()
        self._prefs_mac = hmac.new(prefs.derive_key(), digestmod=prefs.digest_method)
        self._sign_prefs: Callable[[int, int], str] = self._fast_preferences
        samples = ((0, 1), (7, 740226), (123456, 739000), (2**31 - 1, 800000))
        if any(self._fast_preferences(i, d) != self._preferences.dumps([i, d]) for i, d in samples):
            self._sign_prefs = lambda i, d: self._preferences.dumps([i, d])

    def _fast(self, base: hmac.HMAC, json_payload: bytes) -> str:
        # URLSafeSerializer's payload is the compact JSON, base64url without padding; then the HMAC of that
        # payload, base64url, after the separator.
        payload = b2a_base64(json_payload, newline=False).translate(_URLSAFE).rstrip(b"=")
        mac = base.copy()
        mac.update(payload)
        signature = b2a_base64(mac.digest(), newline=False).translate(_URLSAFE).rstrip(b"=")
        return (payload + self._sep + signature).decode("ascii")

    def _fast_unsubscribe(self, subscriber_id: int) -> str:
        return self._fast(self._mac, str(subscriber_id).encode())

    def _fast_preferences(self, subscriber_id: int, day_ordinal: int) -> str:
        return self._fast(self._prefs_mac, f"[{subscriber_id},{day_ordinal}]".encode())

    def unsubscribe(self, subscriber_id: int) -> str:
        return self._sign(subscriber_id)

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

    def preferences(self, subscriber_id: int, issued: date) -> str:
        """The "Manage your emails" token: its own purpose (an unsubscribe token cannot open the page, nor the
        reverse), carrying only the id and the day it was issued (the email's day); valid PREFERENCES_MAX_DAYS."""
        return self._sign_prefs(subscriber_id, issued.toordinal())

    def read_preferences(self, token: str, *, today: date, max_days: int = PREFERENCES_MAX_DAYS) -> int | None:
        if not _canonical(token):
            return None
        try:
            value = self._preferences.loads(token)
        except BadData:
            return None
        if not isinstance(value, list) or len(value) != 2:
            return None
        subscriber_id, issued = _subscriber_id(value[0]), value[1]
        if subscriber_id is None or not isinstance(issued, int) or isinstance(issued, bool):
            return None
        if today.toordinal() - issued > max_days:  # expired (an email sent ahead of its day is fine: rehearsals)
            return None
        return subscriber_id

    def export(self, subscriber_id: int) -> str:
        """The emailed "download my data" link's token (a day)."""
        return self._export.dumps(subscriber_id)

    def read_export(self, token: str, *, max_age: int = EXPORT_MAX_AGE) -> int | None:
        return self._read(self._export, token, max_age)

    @staticmethod
    def _read(serializer: URLSafeTimedSerializer, token: str, max_age: int) -> int | None:
        if not _canonical(token):
            return None
        try:
            return _subscriber_id(serializer.loads(token, max_age=max_age))
        except BadData:
            return None
