"""`campaign check`: the go-live gate before real mail (registered on `campaign.cli.app`).

`validate` checks what organisers edit; `check` adds what operators configure, and reports every problem in
one run (exit 2), each naming the setting and the fix:
- placeholders: the default public URL, a placeholder or missing postal address, From/Reply-To at
  example.org/example.com/localhost, the development (or a short) signing key;
- email QA: every day in every crisis variant built as a real message (size, structure, MIME);
- network (skipped with --offline): the provider credential proven with its read-only endpoint (Postmark's
  broadcast stream must leave unsubscribes to us), the From domain's SPF, DKIM and DMARC;
- crisis lines still verified when the series goes out, the database and the list.
With the outbox the placeholders and QA findings are warnings (nothing leaves the machine).
"""

from __future__ import annotations

import typer

from campaign.cli.app import app, err, out, project, settings, store
from campaign.errors import Problem
from campaign.ledger.states import ACTIVE

VARIANTS_NOTE = "countries with verified crisis lines, plus the international block"


def _network_checks(s, p, name: str, *, offline: bool, errors: list[Problem], warnings: list[Problem]) -> None:
    """The provider credential, Postmark's stream, SPF/DKIM/DMARC — over the network unless --offline."""
    from campaign.preflight import network_report

    real = name != "outbox"
    if not real:
        out.print("ok: provider outbox (local files — nothing leaves this machine); no network checks needed")
    elif offline:
        out.print(
            f"skipped (--offline): network checks — the {name} credential, "
            + ("the Postmark stream settings, " if name == "postmark" else "")
            + "SPF, DKIM and DMARC of the From domain are NOT verified"
        )
    else:
        net = network_report(s, p, name)
        for line in net.passed:
            out.print(line if line.startswith("skipped ") else f"ok: {line}")
        errors.extend(net.errors)
        warnings.extend(net.warnings)
    if real and not any(pr.field in ("CAMPAIGN_SECRET_KEY", "CAMPAIGN_PUBLIC_URL") for pr in errors):
        out.print(f"ok: provider {name}: credentials present, signing key set, public URL is https")


def _database_check(s) -> None:
    st = store(s)
    try:
        counts = st.count_subscribers()
        pause = st.get_state("pause")
    finally:
        st.close()
    active = counts.get(ACTIVE, 0)
    out.print(
        f"ok: database reachable; {active} active subscriber(s)"
        + (f", {sum(counts.values()) - active} not sent to" if sum(counts.values()) > active else "")
    )
    if not active:
        err.print("warning: nobody to send to — campaign subscribers import FILE.csv")
    if pause:
        err.print(f"warning: the series is paused since {pause.get('since')} ({pause.get('reason')})")


@app.command()
def check(
    offline: bool = typer.Option(
        False, "--offline", help="Skip the network checks (provider credential, Postmark stream, SPF/DKIM/DMARC)."
    ),
) -> None:
    """Go-live gate for a real send: placeholders, every day in every crisis variant, provider credentials,
    DNS, database. Lists every problem, then exits 2 if there was any.

    Example: campaign check    (or CAMPAIGN_PROVIDER=postmark campaign check --offline)
    """
    from campaign.preflight import offline_problems
    from campaign.preflight.email_qa import run_email_qa, variants
    from campaign.providers import provider_name

    s = settings()
    p = project(s)
    p.check_safe_messaging()
    name = provider_name(s, p.schedule.campaign.provider)
    real = name != "outbox"
    errors: list[Problem] = []
    warnings: list[Problem] = []

    placeholders = offline_problems(s, p)
    (errors if real else warnings).extend(placeholders)
    if not real:
        from campaign.preflight.placeholders import provider_problems

        errors.extend(provider_problems(s, p, name))  # the outbox folder must be writable
    if not placeholders:
        out.print("ok: public URL, postal address, From/Reply-To and signing key are ready for real mail")

    qa = run_email_qa(p)
    out.print(
        f"ok: {len(p.schedule.dates)} days × {len(variants(p))} crisis variants rendered and verified ({VARIANTS_NOTE})"
    )
    for line in qa.passed:
        out.print(f"ok: {line}" if not line.startswith("ok") else line)
    (errors if real else warnings).extend(qa.errors)
    warnings.extend(qa.warnings)

    _network_checks(s, p, name, offline=offline, errors=errors, warnings=warnings)
    last_send = p.schedule.send_at(p.schedule.dates[-1]).date()
    for entry in p.crisis.stale(last_send):
        err.print(f"warning: by {last_send} this crisis line will not have been re-verified for 12 months: {entry}")

    _database_check(s)
    for problem in warnings:
        err.print(f"warning: {str(problem).strip()}")
    for problem in errors:
        err.print(f"error: {str(problem).strip()}")
    if errors:
        err.print(f"not ready: {len(errors)} problem(s) above must be fixed before real mail goes out through {name}")
        raise typer.Exit(2)
    if real and not offline:
        out.print(f"ready: every check passed for {name}")
