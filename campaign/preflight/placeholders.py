"""Offline go-live checks: settings that are still the shipped placeholders, or too weak for real mail.

Every check returns `Problem`s (never raises), so `campaign check` can report them all in one run, and
`campaign send` / `campaign run` refuse to start with a real provider while any is left.
"""

from __future__ import annotations

from email.utils import parseaddr
from ipaddress import ip_address
from urllib.parse import urlparse

from campaign.config import (
    DEFAULT_PUBLIC_URL,
    MIN_SECRET_LENGTH,
    PLACEHOLDER_MARKERS,
    RESERVED_DOMAINS,
    RESERVED_TLDS,
    SECRET_FIX,
    Settings,
)
from campaign.errors import ConfigurationError, Problem
from campaign.series.project import Project

# RFC 2606 / RFC 6761 names: nobody can receive replies, host links or publish DNS records there.


def is_reserved_host(host: str) -> bool:
    """True for example.org/com/net, localhost, reserved test TLDs, loopback and private IP addresses."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return True
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return address.is_loopback or address.is_private or address.is_unspecified
    if any(host == d or host.endswith("." + d) for d in RESERVED_DOMAINS):
        return True
    return host.rpartition(".")[2] in RESERVED_TLDS


def sender_domain(project: Project) -> str:
    return parseaddr(project.schedule.campaign.from_)[1].rpartition("@")[2].strip().rstrip(".").lower()


def _schedule_problem(project: Project, key: str, message: str, fix: str) -> Problem:
    line = project.loaded.lines.get(("campaign", key))
    return Problem(project.loaded.path.name, line, f"campaign.{key}", message, fix)


def public_url_problems(settings: Settings) -> list[Problem]:
    field = "CAMPAIGN_PUBLIC_URL"
    fix = "export CAMPAIGN_PUBLIC_URL=https://news.your-domain.org (the address where `campaign serve` answers)"
    if settings.get(field) is None or settings.public_url == DEFAULT_PUBLIC_URL:
        return [
            Problem(
                "environment",
                None,
                field,
                f"not set: every unsubscribe and archive link would point at the placeholder {DEFAULT_PUBLIC_URL}, "
                "which nobody answers — readers could not unsubscribe",
                fix,
            )
        ]
    url = urlparse(settings.public_url)
    problems = []
    if url.scheme != "https":
        problems.append(
            Problem(
                "environment",
                None,
                field,
                f"{settings.public_url} is not https: one-click unsubscribe (RFC 8058) requires an HTTPS link",
                fix,
            )
        )
    if is_reserved_host(url.hostname or ""):
        problems.append(
            Problem(
                "environment",
                None,
                field,
                f"{url.hostname} is a reserved or local host name: links in real mail would not reach you",
                fix,
            )
        )
    return problems


def address_problems(project: Project) -> list[Problem]:
    c = project.schedule.campaign
    problems = []
    for key, value in (("from", c.from_), ("reply_to", c.reply_to)):
        if not value:
            continue
        domain = parseaddr(value)[1].rpartition("@")[2]
        if is_reserved_host(domain):
            what = "replies would be lost" if key == "reply_to" else "no real mailbox provider accepts it"
            problems.append(
                _schedule_problem(
                    project,
                    key,
                    f"{value!r} is at the placeholder domain {domain}: {what}",
                    "use an address at your own domain"
                    + (" (with SPF, DKIM and DMARC set up for it)" if key == "from" else ""),
                )
            )
    address = " ".join(c.postal_address.split())
    fix = "write your organisation's real postal address (a street address or a registered PO box)"
    law = "CAN-SPAM requires a valid physical postal address in every message"
    if not address:
        problems.append(_schedule_problem(project, "postal_address", f"is missing: {law}", fix))
    elif marker := next((m for m in PLACEHOLDER_MARKERS if m in address.lower()), None):
        problems.append(
            _schedule_problem(
                project, "postal_address", f"is still the placeholder ({marker!r} in {address!r}): {law}", fix
            )
        )
    return problems


def secret_problems(settings: Settings) -> list[Problem]:
    if settings.secret_key_is_dev:
        return [
            Problem(
                "environment",
                None,
                "CAMPAIGN_SECRET_KEY",
                "not set: the built-in development key would sign every unsubscribe link, and anyone can read it "
                "in the source",
                SECRET_FIX,
            )
        ]
    if len(settings.secret_key) < MIN_SECRET_LENGTH:
        return [
            Problem(
                "environment",
                None,
                "CAMPAIGN_SECRET_KEY",
                f"only {len(settings.secret_key)} characters: a signing key needs at least {MIN_SECRET_LENGTH}",
                SECRET_FIX,
            )
        ]
    return []


def provider_problems(settings: Settings, project: Project, name: str) -> list[Problem]:
    """The provider's own settings (credentials present and well-formed, URL overrides, SMTP settings, the
    outbox folder), all at once, as the providers' pre-flight finds them."""
    try:
        from campaign.providers import preflight_problems
    except ImportError:  # an older providers package: make_provider reports the first problem only
        from campaign.providers import make_provider

        try:
            make_provider(name, settings, project.schedule.campaign).close()
        except ConfigurationError as error:
            return list(error.problems)
        return []
    return preflight_problems(settings, project.schedule.campaign)


def offline_problems(settings: Settings, project: Project) -> list[Problem]:
    """Everything that makes the configuration unfit for real mail, found without the network.

    The list is the same whichever provider is chosen; the caller decides what it means (errors for a real
    provider, warnings for the outbox).
    """
    from campaign.providers import provider_name

    problems = public_url_problems(settings) + address_problems(project) + secret_problems(settings)
    name = provider_name(settings, project.schedule.campaign.provider)
    if name != "outbox":
        seen = {p.field for p in problems}
        problems += [p for p in provider_problems(settings, project, name) if p.field not in seen]
    return problems


def require_go_live(settings: Settings, project: Project, *, probe: bool = False) -> None:
    """Called when `send` or `run` start: with a real provider, refuse to start on any offline problem; with
    `probe` (`campaign run`) also prove the credential (and Postmark's stream settings) over the network."""
    from campaign.providers import provider_name

    name = provider_name(settings, project.schedule.campaign.provider)
    if name == "outbox":
        return
    problems = offline_problems(settings, project)
    if probe and not problems:
        from campaign.preflight.probes import probe_provider

        problems = probe_provider(settings, project, name).errors
    if problems:
        raise ConfigurationError(
            problems
            + [
                Problem(
                    name,
                    None,
                    "",
                    f"refusing to send real email through {name} with {len(problems)} problem(s) above",
                    "fix them; `campaign check` lists everything, network checks included",
                )
            ]
        )


def require_go_live_at_start(settings: Settings) -> None:
    """`campaign run`: the offline gate plus the credential probe. Invalid inputs are left to the scheduler,
    which reports them (and waits for a fix) itself."""
    from campaign.errors import InvalidInput
    from campaign.series.project import load_project

    try:
        project = load_project(settings)
    except InvalidInput:
        return
    require_go_live(settings, project, probe=True)
