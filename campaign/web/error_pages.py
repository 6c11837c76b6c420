"""Clean error responses: a short page (or JSON for webhooks) for every HTTP error, and never a stack trace.

Unexpected exceptions are logged server-side with their traceback and answered with a generic 500.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from campaign.web.pages import render_page

log = logging.getLogger("campaign.web")

FRIENDLY = {
    400: (
        "This request could not be handled",
        "Something in the request was not right. If you followed a link from one of our emails, try opening it again.",
    ),
    404: ("Page not found", "There is nothing at this address. Check the link, or visit the archive."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    410: ("This link is no longer valid", "Nothing is waiting for this link any more."),
    413: ("Too much data", "The request was larger than this site accepts."),
    429: (
        "Please wait a moment",
        "There have been too many requests from your connection. Please try again in a few minutes.",
    ),
    500: ("Something went wrong on our side", "Please try again in a few minutes. Nothing you did caused this."),
}


def error_response(code: int, *, title: str | None = None, message: str | None = None, headers=None):
    default_title, default_message = FRIENDLY.get(code, ("Error", "The request could not be handled."))
    if request.path.startswith("/webhooks/"):
        response = jsonify({"error": title or default_title, "status": code})
        response.status_code = code
    else:
        response = render_page(
            "error.html.j2", status=code, code=code, title=title or default_title, message=message or default_message
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def install(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        if error.code == 401:
            headers.update(dict(error.get_headers()))  # WWW-Authenticate, when the route set one
            headers.pop("Content-Type", None)
        return error_response(error.code or 500, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return _http_error(error)
        # The endpoint, not the path: paths carry unsubscribe and confirmation tokens.
        log.exception("unhandled error in %s %s", request.method, request.endpoint or "an unknown route")
        return error_response(InternalServerError.code)
