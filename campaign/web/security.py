"""Security headers on every response, and the per-request CSP nonce the page templates use.

Pages get a strict policy: styles only from the page's own nonce'd <style>, forms only to this site, never
framed, and no scripts — except a page that asks for its one nonce'd script (`allow_page_script()`: the
sign-up form fills in the browser's time zone). Archived and previewed emails carry inline `style=""` attributes (email HTML has no
other way), so those responses loosen style-src to 'unsafe-inline' — still no scripts.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

PAGE_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; "
    "frame-ancestors {ancestors}; base-uri 'none'"
)

SCRIPT_SRC = "; script-src 'nonce-{nonce}'"

HSTS = "max-age=31536000; includeSubDomains"


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def allow_page_script() -> None:
    """Let this response's page run its own nonce'd <script> (and nothing else)."""
    g.page_script = True


def email_document(response: Response, *, framable_by_self: bool = False) -> Response:
    """Mark a response as a stored/rendered email: inline styles allowed, still no scripts."""
    response.headers["Content-Security-Policy"] = EMAIL_CSP.format(ancestors="'self'" if framable_by_self else "'none'")
    if framable_by_self:
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def install(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        policy = PAGE_CSP + (SCRIPT_SRC if g.get("page_script") else "")
        h.setdefault("Content-Security-Policy", policy.format(nonce=csp_nonce()))
        h.setdefault("X-Frame-Options", "DENY")
        h["X-Content-Type-Options"] = "nosniff"
        # Unsubscribe and confirmation URLs carry tokens: never leak them to another site in a Referer.
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        h.setdefault("Cache-Control", "no-store")
        if request.is_secure:  # behind a TLS-terminating proxy this needs CAMPAIGN_TRUSTED_PROXIES
            h["Strict-Transport-Security"] = HSTS
        return response
