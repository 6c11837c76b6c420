"""CSRF protection for the sign-up form (synchroniser token).

A random nonce lives in the signed session cookie (scoped to the form's own path: /subscribe, or /confirm for
the confirmation button — a reader often opens the emailed link in another browser); the form carries the nonce signed
with a timestamp. A POST is accepted only when the signature is valid, younger than `MAX_AGE`, and matches
the cookie — a page on another site can neither read the cookie nor forge the signature.

The unsubscribe endpoints are deliberately exempt: RFC 8058 mail clients post without cookies, and the signed
token in the URL is already the proof of intent (nobody else can construct it).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData, URLSafeTimedSerializer

FIELD = "csrf_token"
SESSION_KEY = "csrf"
MAX_AGE = 2 * 3600  # a form left open longer than this asks the reader to reload
CONFIRM_PATH = "/confirm"
PREFERENCES_PATH = "/preferences"


class FormScopedSession(SecureCookieSessionInterface):
    """The session cookie (only ever set by a page with a form) is sent back only to that form's path."""

    def get_cookie_path(self, app: Flask) -> str:
        if request.path.startswith(CONFIRM_PATH + "/"):
            return CONFIRM_PATH
        if request.path.startswith(PREFERENCES_PATH + "/"):
            return PREFERENCES_PATH
        return super().get_cookie_path(app)


class Csrf:
    def __init__(self, secret_key: str):
        self._serializer = URLSafeTimedSerializer(secret_key, salt="campaign.csrf")

    def token(self) -> str:
        nonce = session.get(SESSION_KEY)
        if not isinstance(nonce, str):
            nonce = secrets.token_urlsafe(24)
            session[SESSION_KEY] = nonce
        return self._serializer.dumps(nonce)

    def valid(self, submitted: str | None) -> bool:
        expected = session.get(SESSION_KEY)
        if not submitted or not isinstance(submitted, str) or len(submitted) > 200 or not isinstance(expected, str):
            return False
        try:
            nonce = self._serializer.loads(submitted, max_age=MAX_AGE)
        except BadData:
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce, expected)
