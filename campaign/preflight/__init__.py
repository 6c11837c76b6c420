"""The go-live checks behind `campaign check` (and the gate of `campaign send` / `campaign run`).

- `placeholders`: settings still at the shipped placeholders (public URL, postal address, example.org
  senders, the development key), found offline — `offline_problems`, `require_go_live`
- `probes`: the provider credential proven with its read-only endpoint (Postmark's stream settings too)
- `dns_records`: SPF, DKIM and DMARC of the From domain, as Gmail and Yahoo require of bulk senders
- `email_qa`: every day × crisis variant built as a real message and checked
- `screenshots`: PNGs of the emails from headless Chromium, for organisers

Layer: with `delivery` (imports providers, series, ledger, config; never timing, web or cli).
"""

from __future__ import annotations

from campaign.preflight.placeholders import offline_problems, require_go_live, require_go_live_at_start
from campaign.preflight.report import Report

__all__ = ["Report", "network_report", "offline_problems", "require_go_live", "require_go_live_at_start"]


def network_report(settings, project, provider: str) -> Report:
    """The network checks for a real provider: the credential probe, then DNS."""
    from campaign.preflight.dns_records import check_dns
    from campaign.preflight.placeholders import is_reserved_host, sender_domain
    from campaign.preflight.probes import probe_provider

    report = probe_provider(settings, project, provider)
    domain = sender_domain(project)
    if is_reserved_host(domain):  # already an error above; nobody can publish records there
        report.ok(f"skipped: DNS checks — the From domain {domain} is a placeholder")
    else:
        report.extend(check_dns(settings, project, provider))
    return report
