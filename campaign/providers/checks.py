"""Syntax checks of provider settings (base URLs, credentials), shared by the providers and the pre-flight."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlparse

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem


def api_base_url(settings: Settings, variable: str, default: str) -> str:
    """The provider's base URL (scheme and host), overridable for tests and proxies. Plain http is only
    accepted for a loopback host: an API key must never travel unencrypted over a network."""
    raw = settings.get(variable)
    if raw is None:
        return default
    fix = f"set {variable} to the scheme and host only, e.g. https://api.example.com or http://127.0.0.1:8025"
    if problem := base_url_problem(raw):
        raise ConfigurationError(Problem("environment", None, variable, f"{variable}={raw!r} {problem}", fix))
    url = urlparse(raw)
    if url.scheme == "http" and not is_loopback(url.hostname or ""):
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                variable,
                f"{variable}={raw!r} would send the API key unencrypted",
                "use https:// (plain http is only allowed for 127.0.0.1/localhost)",
            )
        )
    return raw.rstrip("/")


def base_url_problem(raw: str) -> str | None:
    """What is wrong with a provider base URL's syntax (None: nothing): scheme, host, port, no path."""
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        return "contains whitespace or a control character"
    try:
        url = urlparse(raw)
    except ValueError as err:  # e.g. "Invalid IPv6 URL"
        return f"is not a URL ({err})"
    if url.scheme not in ("http", "https") or not url.hostname:
        return "is not an http(s) URL"
    try:
        port = url.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if port == 0:
        return "has port 0"
    if url.username or url.password:
        return "must not contain credentials"
    if url.query or url.fragment:
        return "must not have a query or fragment"
    return None


def require_credential(settings: Settings, variable: str, purpose: str) -> str:
    """A credential from the environment, set and well-formed, or a ConfigurationError naming it."""
    value = settings.require(variable, purpose)
    if problem := credential_problem(value):
        raise ConfigurationError(
            Problem("environment", None, variable, f"{variable} {problem}", f"export {variable} again, without it")
        )
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def credential_problem(value: str) -> str | None:
    """What is wrong with an API key's syntax (None: nothing). Keys are opaque, but never hold whitespace."""
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "contains whitespace, a line break or a control character (pasted with a newline?)"
    if not value.isascii():
        return "contains non-ASCII characters"
    return None
