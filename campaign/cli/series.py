"""`campaign validate`, `plan`, `build`, `preview`: what organisers run on their files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from campaign.cli.app import DAY_HELP, app, err, out, print_findings, project


@app.command()
def validate() -> None:
    """Check schedule.yaml, content/ and templates/; print every problem at once.

    Example: campaign validate
    """
    p = project()
    p.check_safe_messaging()
    p.render(p.schedule.dates[0])  # templates compile and carry the crisis block and disclaimer
    stale = p.crisis.stale(datetime.now().date())
    for entry in stale:
        err.print(f"warning: crisis resource not re-verified in 12 months: {entry}")
    for finding in p.lint():
        err.print(f"lint: {finding}", markup=False)
    out.print(
        f"ok: {len(p.schedule.dates)} days, {len(p.article.blocks)} article blocks, "
        f"provider {p.schedule.campaign.provider}"
    )


@app.command()
def plan() -> None:
    """Show how the article is split across the scheduled days (word counts and spread).

    Example: campaign plan
    """
    from rich.table import Table

    p = project()
    table = Table(title=f"{p.schedule.campaign.name}: {len(p.plan.parts)} parts")
    for col in ("Day", "Date", "Words", "Starts with", "Note"):
        table.add_column(col, justify="right" if col in ("Day", "Words") else "left")
    for part in p.plan.parts:
        first = part.blocks[0].text.replace("\n", " ")
        start = f"(continued: {part.continued}) " if part.continued else ""
        pins = p.schedule.days[part.day].pin
        table.add_row(
            str(part.number),
            f"{part.day:%a %d %b}",
            str(part.words),
            (start + first)[:70],
            ("pinned: " + ", ".join(pins)) if pins else "",
        )
    out.print(table)
    counts = [part.words for part in p.plan.parts]
    out.print(
        f"words: total {sum(counts)}, mean {p.plan.mean:.1f}, min {min(counts)}, max {max(counts)}, "
        f"spread {p.plan.spread} (objective: minimise the sum of squared deviations from the mean)"
    )


@app.command()
def build(out_dir: Path = typer.Option(Path("build"), "--out", help="Folder to write into.")) -> None:
    """Render every day to OUT/YYYY-MM-DD/email.html and email.txt, plus OUT/index.html.

    Example: campaign build --out build
    """
    from campaign.series.build import build_series

    p = project()
    print_findings(p)
    built = build_series(p, out_dir)
    largest = max(b.html_bytes for b in built)
    out.print(
        f"built {len(built)} issues in {out_dir}/ (largest HTML {largest / 1024:.1f} KB); open {out_dir / 'index.html'}"
    )


@app.command()
def preview(
    day: str = typer.Argument(..., help=DAY_HELP),
    country: Optional[str] = typer.Option(None, help="Render the crisis block for this country (e.g. GB)."),
    out_dir: Path = typer.Option(Path("build/preview"), "--out", help="Folder to write into."),
) -> None:
    """Render one day and print the path of its HTML.

    Example: campaign preview 10 --country GB
    """
    from campaign.series.build import write_issue

    p = project()
    d = p.schedule.resolve_day(day)
    print_findings(p, [d])
    built = write_issue(p, d, out_dir / d.isoformat(), variant=p.variant_for(country))
    out.print(str(built.html_path))
