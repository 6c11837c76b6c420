"""The shapes of the links we put in emails and pages (one place, so sender, build and web agree)."""

from __future__ import annotations


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url}/unsubscribe/{token}"


def preferences_url(public_url: str, token: str) -> str:
    return f"{public_url}/preferences/{token}"
