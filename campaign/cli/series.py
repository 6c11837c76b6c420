"""`campaign validate`, `plan`, `build`, `preview`: what organisers run on their files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from campaign.cli.app import DAY_HELP, app, err, existing_store, out, print_findings, project, settings
from campaign.clock import utcnow
from campaign.ledger.states import IssueState


@app.command()
def validate() -> None:
    """Check schedule.yaml, content/ and templates/ — and the provider settings a send will need (URL and
    credential syntax, a writable outbox, the signing key); print every problem at once.

    Example: campaign validate
    """
    from campaign.errors import ConfigurationError
    from campaign.providers import preflight_problems

    p = project()
    print_schedule_warnings(p)
    settings_problems = preflight_problems(p.settings, p.schedule.campaign)
    if settings_problems:  # what `send` would refuse, found before it is run
        raise ConfigurationError(settings_problems)
    p.check_templates()  # sandbox, symlinks, recursion, unverified numbers: before any template runs
    p.check_safe_messaging()
    p.render(p.schedule.dates[0])  # templates compile and carry the crisis block and disclaimer
    stale = p.crisis.stale(utcnow().date())
    for entry in stale:
        err.print(f"warning: crisis resource not re-verified in 12 months: {entry}")
    for finding in p.lint():
        err.print(f"lint: {finding}", markup=False)
    c = p.schedule.campaign
    unit = "parts, from each reader's join (start: on_join)" if c.on_join else "days"
    out.print(f"ok: {len(p.schedule.dates)} {unit}, {len(p.article.blocks)} article blocks, provider {c.provider}")


def stored_editions(st, days=None) -> dict:
    """The stored editions (series/edition.py) of the started days among `days` (default: all), by day."""
    from campaign.series.edition import Edition

    if st is None:
        return {}
    started = [d for d in st.edition_days().values() if days is None or d in days]
    return {d: Edition.from_record(st.edition(d)) for d in started}


def clip_words(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:.-—") + "…"


def first_sentence(text: str) -> str:
    import re

    match = re.search(r"(?<=[.!?])\s", text)
    return text[: match.start()] if match else text


def opening(part) -> str:
    """What a day's text is about: its first heading, or (when it has none) its first sentence."""
    if part.blocks[0].kind == "heading":
        return "§ " + part.blocks[0].text
    first = first_sentence(part.blocks[0].text.replace("\n", " ").lstrip("- "))
    return f"…{first}" if part.continued else first  # "…": it continues the section before


def print_schedule_warnings(p) -> None:
    """Length limits of subjects and preheaders, and edits to text already sent (series/frozen.py)."""
    for warning in (*p.loaded.warnings, *p.plan_warnings):
        err.print(f"warning: {warning}", markup=False)


@app.command()
def plan() -> None:
    """Show how the article is split across the scheduled days: each day's subject beside its first heading
    or sentence, word counts and spread.

    Example: campaign plan
    """
    from rich.table import Table

    from campaign.timing.pause import schedule_shift
    from campaign.timing.slots import sent_on

    s = settings()
    with existing_store(s) as st:
        p = project(s, st)
        shift = schedule_shift(st) if st is not None else ()  # how far `resume --catch-up` moved the series
        rendered = set(st.edition_days().values()) if st is not None else set()
    print_schedule_warnings(p)
    frozen = p.frozen
    on_join = p.schedule.campaign.on_join  # parts, not dates: no Date column
    table = Table(title=f"{p.schedule.campaign.name}: {len(p.plan.parts)} parts")
    for col in ("Part",) if on_join else ("Day", "Date"):
        table.add_column(col, justify="right" if col != "Date" else "left")
    for col in ("Words", "Subject", "Starts with", "Note"):
        table.add_column(col, justify="right" if col == "Words" else "left")
    for part in p.plan.parts:
        entry = frozen.get(part.day) or p.schedule.days[part.day]
        pins = p.schedule.days[part.day].pin if part.day in p.schedule.days else []
        started = (
            [f"{IssueState.SENT} (stored render)" if part.day in rendered else IssueState.FROZEN]
            if part.day in frozen
            else []
        )
        notes = started + (["pinned: " + ", ".join(pins)] if pins else [])
        on = sent_on(part.day, shift)
        when = [] if on_join else [f"{on:%a %d %b}" + (f" (was {part.day:%d %b})" if on != part.day else "")]
        table.add_row(
            str(part.number),
            *when,
            str(part.words),
            clip_words(entry.subject, 60),
            clip_words(opening(part), 60),
            "; ".join(notes),
        )
    out.print(table)
    counts = [part.words for part in p.plan.parts]
    out.print(
        f"words: total {sum(counts)}, mean {p.plan.mean:.1f}, min {min(counts)}, max {max(counts)}, "
        f"spread {p.plan.spread} (objective: minimise the sum of squared deviations from the mean)"
    )


@app.command()
def build(
    out_dir: Path = typer.Option(Path("build"), "--out", help="Folder to write into."),
    screenshots: bool = typer.Option(
        False, "--screenshots", help="Also PNGs of every day (375/800 px, light/dark) and OUT/contact-sheet.html."
    ),
) -> None:
    """Render every day to OUT/YYYY-MM-DD/email.html and email.txt, plus OUT/index.html.

    Example: campaign build --out build
    """
    from campaign.series.build import build_series

    s = settings()
    with existing_store(s) as st:
        p = project(s, st)
        stored = stored_editions(st)
    print_schedule_warnings(p)
    print_findings(p)
    built = build_series(p, out_dir, stored=stored)
    largest = max(b.html_bytes for b in built)
    out.print(
        f"built {len(built)} issues in {out_dir}/ (largest HTML {largest / 1024:.1f} KB); open {out_dir / 'index.html'}"
    )
    if screenshots:  # headless Chromium (campaign/preflight/screenshots.py)
        from campaign.preflight.screenshots import shoot_series

        out.print(f"screenshots: {len(built) * 4} PNGs; contact sheet {shoot_series(p.settings, p, built, out_dir)}")


@app.command()
def preview(
    day: str = typer.Argument(..., help=DAY_HELP),
    country: Optional[str] = typer.Option(None, help="Render the crisis block for this country (e.g. GB)."),
    out_dir: Path = typer.Option(Path("build/preview"), "--out", help="Folder to write into."),
    screenshot: bool = typer.Option(
        False, "--screenshot", help="Also write four PNGs (375/800 px, light/dark) from headless Chromium."
    ),
) -> None:
    """Render one day and print the path of its HTML.

    Example: campaign preview 10 --country GB
    """
    from campaign.series.build import write_issue
    from campaign.series.parts import folder_name

    s = settings()
    with existing_store(s) as st:
        p = project(s, st)
        d = p.schedule.resolve_day(day)
        stored = stored_editions(st, [d]).get(d)
    print_findings(p, [d])
    built = write_issue(p, d, out_dir / folder_name(d), variant=p.variant_for(country), stored=stored)
    out.print(str(built.html_path))
    if screenshot:  # headless Chromium (campaign/preflight/screenshots.py)
        from campaign.preflight.screenshots import shoot_preview

        for path in shoot_preview(p.settings, built):
            out.print(str(path))
