"""Offline pre-flight of the provider settings: everything `make_provider` and a send would refuse, found at
once, for `campaign validate` and `campaign check` (`preflight_problems`).

Checked without a network call: the provider name; its credentials are set and well-formed (no whitespace,
line breaks or control characters); base-URL overrides are http(s) URLs with a host, a port from 1 to
65535, and plain http only on loopback; SMTP host, port, security mode, login pair and CA file; the outbox
folder can be written; and for every real provider the signing key is not the development key and has at
least 32 characters, and the public URL is https.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem
from campaign.providers.checks import api_base_url, credential_problem, is_loopback
from campaign.providers.registry import PROVIDERS, provider_name

# name → (credential variables, base-URL variable)
_HTTP = {
    "postmark": (("POSTMARK_SERVER_TOKEN",), "POSTMARK_API_URL"),
    "sendgrid": (("SENDGRID_API_KEY",), "SENDGRID_API_URL"),
    "mailgun": (("MAILGUN_API_KEY", "MAILGUN_DOMAIN"), "MAILGUN_API_URL"),
    "resend": (("RESEND_API_KEY",), "RESEND_API_URL"),
}
_SMTP_SECURITY = ("starttls", "ssl", "none")


def _env(variable: str, message: str, fix: str) -> Problem:
    return Problem("environment", None, variable, message, fix)


def preflight_problems(settings: Settings, campaign_settings: Any = None) -> list[Problem]:
    """Every problem with the provider settings, all at once (an empty list: `make_provider` will succeed
    and a send will not stop on its settings). `campaign_settings` is schedule.yaml's campaign (for its
    `provider:`); None means the schedule's default, the outbox."""
    name = provider_name(settings, getattr(campaign_settings, "provider", None) or "outbox")
    if name not in PROVIDERS:
        where = "CAMPAIGN_PROVIDER" if settings.provider_override == name else "campaign.provider"
        file = "environment" if where == "CAMPAIGN_PROVIDER" else "schedule.yaml"
        return [Problem(file, None, where, f"unknown provider {name!r}", f"use one of {', '.join(PROVIDERS)}")]
    if name == "outbox":
        return outbox_problems(settings.outbox_dir, "CAMPAIGN_OUTBOX")
    problems: list[Problem] = []
    if name == "smtp":
        problems += smtp_problems(settings)
    else:
        credentials, url_variable = _HTTP[name]
        for variable in credentials:
            value = settings.get(variable)
            if value is None:
                problems.append(_env(variable, f"not set (needed by {name})", f"export {variable}=…"))
            elif why := credential_problem(value):
                problems.append(_env(variable, f"{variable} {why}", f"export {variable} again, without it"))
        try:
            api_base_url(settings, url_variable, "https://unused.invalid")
        except ConfigurationError as err:
            problems += err.problems
    if secret := settings.secret_problem(f"signing the unsubscribe links of real email sent through {name}"):
        problems.append(secret)
    try:
        settings.require_https_public_url()
    except ConfigurationError as err:
        problems += err.problems
    return problems


def smtp_problems(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    host = settings.get("SMTP_HOST")
    if host is None:
        problems.append(_env("SMTP_HOST", "not set (the SMTP server to send through)", "export SMTP_HOST=…"))
    elif any(ch.isspace() or not ch.isprintable() for ch in host) or "/" in host:
        problems.append(
            _env("SMTP_HOST", f"SMTP_HOST={host!r} is not a host name", "use a name such as smtp.example.org")
        )
    security = (settings.get("SMTP_SECURITY") or "starttls").lower()
    if security not in _SMTP_SECURITY:
        problems.append(
            _env("SMTP_SECURITY", f"SMTP_SECURITY={security!r} is unknown", "use starttls, ssl or none (local relay)")
        )
    port = settings.get("SMTP_PORT")
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        problems.append(_env("SMTP_PORT", f"SMTP_PORT={port!r} is not a port number (1-65535)", "use e.g. 587"))
    username, password = settings.get("SMTP_USERNAME"), settings.get("SMTP_PASSWORD")
    if username and password is None:
        problems.append(_env("SMTP_PASSWORD", "not set (the password for SMTP_USERNAME)", "export SMTP_PASSWORD=…"))
    for variable, value in (("SMTP_USERNAME", username), ("SMTP_PASSWORD", password)):
        if value is not None and any(ch in value for ch in "\r\n\x00"):
            problems.append(_env(variable, f"{variable} contains a line break or NUL", f"export {variable} again"))
    if security == "none" and username and host and not is_loopback(host):
        problems.append(
            _env(
                "SMTP_SECURITY",
                f"SMTP_SECURITY=none would send SMTP_PASSWORD unencrypted to {host}",
                "use starttls or ssl",
            )
        )
    ca_file = settings.get("SMTP_CA_FILE")
    if ca_file and not Path(ca_file).is_file():
        problems.append(_env("SMTP_CA_FILE", f"{ca_file} is not a file", "point it at a PEM certificate bundle"))
    return problems


def outbox_problems(folder: Path, variable: str) -> list[Problem]:
    """The outbox folder, or the nearest folder above it that exists, must be a writable directory."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return [_env(variable, f"{probe} is not a folder (the outbox goes in {folder})", f"set {variable} to a folder")]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [
            _env(
                variable,
                f"{probe} is not writable (the outbox goes in {folder})",
                f"fix its permissions or set {variable}",
            )
        ]
    return []
