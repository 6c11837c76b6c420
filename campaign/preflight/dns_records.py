"""The From domain's SPF, DKIM and DMARC records, read with dnspython.

Gmail and Yahoo require of bulk senders (since February 2024): SPF and DKIM for the sending domain, a DMARC
record (`p=none` at least) at the From domain, and alignment — the From domain must match the DKIM signing
domain (d=) or the SPF (envelope) domain. Mail failing these is rejected or sent to spam.

Settings: CAMPAIGN_DKIM_SELECTOR (one or more selectors, comma-separated; defaults exist only for providers
that publish a fixed one), CAMPAIGN_DNS_SERVER (host[:port] of the resolver to ask; the system resolver
otherwise — tests point it at a local server).
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from ipaddress import ip_address

import dns.exception
import dns.resolver

from campaign.config import Settings
from campaign.errors import DNSLookupFailed, Problem
from campaign.preflight.report import Report
from campaign.series.project import Project

BULK_RULES = "Gmail and Yahoo require SPF, DKIM and DMARC (p=none at least), aligned with the From domain"
# Providers whose DKIM selector is the same for every customer (others show it in their dashboard).
DEFAULT_SELECTORS = {"resend": ["resend"], "sendgrid": ["s1", "s2"]}
LIFETIME = 5.0


def make_resolver(settings: Settings) -> dns.resolver.Resolver:
    """The resolver to ask; a bad CAMPAIGN_DNS_SERVER raises ValueError with the reason."""
    server = settings.get("CAMPAIGN_DNS_SERVER")
    if server is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration as err:
            raise DNSLookupFailed(f"no system resolver configured ({err})") from None
    else:
        match = re.fullmatch(
            r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([0-9.]+)(?::(\d{1,5}))?|([0-9A-Fa-f:]+)", server.strip()
        )
        host = match and (match.group(1) or match.group(3) or match.group(5))
        port = int((match and (match.group(2) or match.group(4))) or 53)
        try:
            ip_address(host or "")
        except ValueError:
            host = None
        if not host or not 0 < port < 65536:
            raise ValueError(
                f"CAMPAIGN_DNS_SERVER={server!r} is not an IP address with an optional port (127.0.0.1:5353, [::1]:53)"
            )
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = resolver.timeout = LIFETIME
    return resolver


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at `name` (CNAMEs followed); [] when the name or the record does not exist."""
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as err:
        raise DNSLookupFailed(f"{type(err).__name__}: {err}") from None
    except dns.exception.DNSException as err:
        raise DNSLookupFailed(f"{type(err).__name__}: {err}") from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _problem(name: str, message: str, fix: str) -> Problem:
    return Problem("DNS", None, f"{name} TXT", message, fix)


def check_spf(report: Report, resolver, domain: str) -> None:
    records = [r for r in txt_records(resolver, domain) if r.lower().startswith("v=spf1")]
    if not records:
        report.error(
            _problem(
                domain,
                f"no SPF record ({BULK_RULES})",
                f'publish a TXT record at {domain} such as "v=spf1 include:<your provider> ~all"',
            )
        )
    elif len(records) > 1:
        report.error(
            _problem(
                domain, f"{len(records)} SPF records: receivers treat that as a permanent error", "merge them into one"
            )
        )
    elif records[0].split()[-1].lower() in ("+all", "all"):
        report.error(_problem(domain, f"SPF {records[0]!r} lets anyone send as {domain}", "end it with ~all or -all"))
    else:
        report.ok(f"dns: SPF at {domain}: {records[0]}")


def selectors(settings: Settings, provider: str) -> list[str]:
    raw = settings.get("CAMPAIGN_DKIM_SELECTOR")
    if raw:
        return [s.strip() for s in raw.split(",") if s.strip()]
    return DEFAULT_SELECTORS.get(provider, [])


def bad_selector(selector: str) -> bool:
    return not re.fullmatch(r"[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*", selector)


def check_dkim(report: Report, resolver, domain: str, names: list[str], provider: str) -> None:
    if not names:
        report.error(
            Problem(
                "environment",
                None,
                "CAMPAIGN_DKIM_SELECTOR",
                f"not set: cannot check the DKIM key of {domain} ({BULK_RULES}); {provider} shows the selector "
                "with the DNS records it asked you to publish",
                "export CAMPAIGN_DKIM_SELECTOR=<selector> (the part before ._domainkey)",
            )
        )
        return
    for selector in names:
        if bad_selector(selector):
            report.error(
                Problem(
                    "environment",
                    None,
                    "CAMPAIGN_DKIM_SELECTOR",
                    f"{selector!r} is not a DKIM selector (letters, digits, '-', '_' and dots)",
                    "write the part before ._domainkey, e.g. CAMPAIGN_DKIM_SELECTOR=s1",
                )
            )
            continue
        name = f"{selector}._domainkey.{domain}"
        keys = [r for r in txt_records(resolver, name) if "p=" in r.replace(" ", "")]
        tags = dict(part.strip().split("=", 1) for part in (keys[0].split(";") if keys else []) if "=" in part)
        if not keys:
            report.error(
                _problem(
                    name,
                    f"no DKIM key for selector {selector!r} ({BULK_RULES})",
                    f"publish the DKIM record {provider} gives you, or set CAMPAIGN_DKIM_SELECTOR to the right selector",
                )
            )
        elif not tags.get("p", "").strip():
            report.error(
                _problem(name, "the DKIM key is revoked (empty p=)", f"publish the current key from {provider}")
            )
        else:
            report.ok(f"dns: DKIM key for selector {selector!r} at {name}")


def check_dmarc(report: Report, resolver, domain: str) -> None:
    labels = domain.split(".")
    # The record at the From domain, else at its parents (an approximation of the organisational domain).
    for i in range(0, max(len(labels) - 1, 1)):
        name = "_dmarc." + ".".join(labels[i:])
        records = [r for r in txt_records(resolver, name) if r.replace(" ", "").lower().startswith("v=dmarc1")]
        if records:
            break
    else:
        report.error(
            _problem(
                f"_dmarc.{domain}",
                f"no DMARC record ({BULK_RULES})",
                f'publish a TXT record at _dmarc.{domain} such as "v=DMARC1; p=none; rua=mailto:dmarc@{domain}"',
            )
        )
        return
    tags = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in records[0].split(";")) if k.strip()}
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        report.error(
            _problem(
                name,
                f"DMARC record {records[0]!r} has no valid p= policy",
                "add p=none (the minimum Gmail and Yahoo accept), p=quarantine or p=reject",
            )
        )
    else:
        report.ok(
            f"dns: DMARC at {name}: p={policy}" + (" (the minimum Gmail and Yahoo accept)" if policy == "none" else "")
        )


def check_dns(settings: Settings, project: Project, provider: str) -> Report:
    report = Report()
    domain = parseaddr(project.schedule.campaign.from_)[1].rpartition("@")[2].strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    fix = "check the network or CAMPAIGN_DNS_SERVER; `campaign check --offline` skips network checks"
    try:
        resolver = make_resolver(settings)
    except ValueError as err:
        report.error(Problem("environment", None, "CAMPAIGN_DNS_SERVER", str(err), "write it as 127.0.0.1:53"))
        return report
    except DNSLookupFailed as err:
        report.error(Problem("DNS", None, domain, str(err), fix))
        return report
    try:
        check_spf(report, resolver, domain)
        check_dkim(report, resolver, domain, selectors(settings, provider), provider)
        check_dmarc(report, resolver, domain)
    except DNSLookupFailed as err:
        report.error(Problem("DNS", None, domain, f"DNS lookups failed ({err})", fix))
    return report
