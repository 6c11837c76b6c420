"""`campaign check`: the pre-flight before a real send (registered on `campaign.cli.app`).

`validate` checks what organisers edit; `check` adds what operators configure: every day rendered for every
crisis variant (so no variant can fail half-way through a send), the provider's credentials, the signing key
and public URL, crisis lines still verified when the series goes out, the database and the list.
"""

from __future__ import annotations

from campaign.cli.app import app, err, out, project, settings, store

VARIANTS_NOTE = "countries with verified crisis lines, plus the international block"


@app.command()
def check() -> None:
    """Pre-flight for a real send: inputs, every day in every crisis variant, provider credentials, database.

    Example: campaign check    (or CAMPAIGN_PROVIDER=postmark campaign check)
    """
    from campaign.providers import make_provider, provider_name

    s = settings()
    p = project(s)
    p.check_safe_messaging()
    variants = sorted(p.crisis.countries) + ["INTL"]
    largest = 0
    for day in p.schedule.dates:
        for variant in variants:
            largest = max(largest, len(p.render(day, variant).html.encode()))
    out.print(
        f"ok: {len(p.schedule.dates)} days × {len(variants)} crisis variants rendered and verified "
        f"({VARIANTS_NOTE}); largest HTML {largest / 1024:.1f} KB"
    )

    name = provider_name(s, p.schedule.campaign.provider)
    make_provider(name, s, p.schedule.campaign).close()  # a missing credential raises, naming the variable
    out.print(
        f"ok: provider {name}"
        + (
            " (local files — nothing leaves this machine)"
            if name == "outbox"
            else ": credentials present, signing key set, public URL is https"
        )
    )
    if name == "outbox" and s.secret_key_is_dev:
        err.print("warning: CAMPAIGN_SECRET_KEY is not set — fine for the outbox, required for real sends")

    last_send = p.schedule.send_at(p.schedule.dates[-1]).date()
    stale = p.crisis.stale(last_send)
    for entry in stale:
        err.print(f"warning: by {last_send} this crisis line will not have been re-verified for 12 months: {entry}")

    st = store(s)
    try:
        counts = st.count_subscribers()
        pause = st.get_state("pause")
    finally:
        st.close()
    active = counts.get("active", 0)
    out.print(
        f"ok: database reachable; {active} active subscriber(s)"
        + (f", {sum(counts.values()) - active} not sent to" if sum(counts.values()) > active else "")
    )
    if not active:
        err.print("warning: nobody to send to — campaign subscribers import FILE.csv")
    if pause:
        err.print(f"warning: the series is paused since {pause.get('since')} ({pause.get('reason')})")
