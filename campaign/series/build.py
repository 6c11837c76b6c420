"""`campaign build` and `campaign preview`: the series as files an organiser can open in a browser."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from campaign.series.links import preferences_url, unsubscribe_url
from campaign.series.project import Project

PREVIEW_TOKEN = "preview-not-a-real-token"


@dataclass(frozen=True)
class BuiltIssue:
    day: date
    number: int
    subject: str
    words: int
    html_path: Path
    text_path: Path
    html_bytes: int


def write_issue(project: Project, day: date, folder: Path, *, variant: str | None = None) -> BuiltIssue:
    """Render `day` (once) and write email.html / email.txt as a subscriber without a name would see them."""
    issue = project.render(day, variant)
    public = project.settings.public_url
    page, text = issue.merge(
        unsubscribe_url=unsubscribe_url(public, PREVIEW_TOKEN),
        name=None,
        preferences_url=preferences_url(public, PREVIEW_TOKEN),
    )
    folder.mkdir(parents=True, exist_ok=True)
    html_path, text_path = folder / "email.html", folder / "email.txt"
    html_path.write_text(page, encoding="utf-8")
    text_path.write_text(text, encoding="utf-8")
    part = project.plan.part_for(day)
    return BuiltIssue(day, part.number, issue.subject, part.words, html_path, text_path, len(page.encode()))


def build_series(project: Project, out: Path) -> list[BuiltIssue]:
    project.check_templates()  # the sandbox's static checks, before any template runs
    project.check_safe_messaging()  # every day, before writing anything
    built = [write_issue(project, day, out / day.isoformat()) for day in project.schedule.dates]
    (out / "index.html").write_text(_index(project, built), encoding="utf-8")
    return built


def _index(project: Project, built: list[BuiltIssue]) -> str:
    rows = "\n".join(
        f"<tr><td>{b.number}</td><td>{b.day:%a %d %b %Y}</td>"
        f'<td><a href="{b.day.isoformat()}/email.html">{html.escape(b.subject)}</a></td>'
        f'<td><a href="{b.day.isoformat()}/email.txt">text</a></td><td>{b.words}</td>'
        f"<td>{b.html_bytes / 1024:.1f} KB</td></tr>"
        for b in built
    )
    name = html.escape(project.schedule.campaign.name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} — build</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2933}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}}
@media (prefers-color-scheme: dark){{body{{background:#111827;color:#e5e7eb}}a{{color:#5eead4}}}}</style></head>
<body><h1>{name}</h1>
<p>{len(built)} issues, sent at {project.schedule.campaign.send_time} {project.schedule.campaign.timezone}.
Default crisis block: {project.schedule.campaign.default_country}.</p>
<table><thead><tr><th>Day</th><th>Date</th><th>Subject (HTML)</th><th>Text</th><th>Words</th><th>HTML size</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
