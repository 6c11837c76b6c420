"""`campaign build` and `campaign preview`: the series as files an organiser can open in a browser."""

from __future__ import annotations

import html
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from campaign.series.edition import Edition
from campaign.series.links import preferences_url, unsubscribe_url
from campaign.series.parts import folder_name, is_part_key, label
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


def write_issue(
    project: Project, day: date, folder: Path, *, variant: str | None = None, stored: Edition | None = None
) -> BuiltIssue:
    """Render `day` (once) and write email.html / email.txt as a subscriber without a name would see them. A day
    whose send has started is written from its `stored` edition: what went out, not today's templates."""
    wanted = variant or (stored.default_variant if stored is not None else None)
    if stored is not None and wanted is not None and stored.has(wanted):
        issue = stored.issue(wanted)
    else:
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


PARALLEL_FROM = 8  # days: below this, a second process costs more than it saves


def build_series(
    project: Project, out: Path, *, processes: int | None = None, stored: Mapping[date, Edition] | None = None
) -> list[BuiltIssue]:
    """Every day rendered and written. With many days the work is split over the machine's cores: forked
    processes share the loaded project (and its parsed stylesheets), each renders and writes its own days."""
    project.check_templates()  # the sandbox's static checks, before any template runs
    project.check_safe_messaging()  # every day, before writing anything
    days = list(project.schedule.dates)
    processes = processes or (min(os.cpu_count() or 1, 4) if len(days) >= PARALLEL_FROM else 1)
    if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
        project.render(days[0])  # warm the shared caches (templates, premailer's rules) once, before forking
        shares = [days[i::processes] for i in range(processes)]
        context = multiprocessing.get_context("fork")
        initargs = (project, out, stored or {})
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_adopt, initargs=initargs) as pool:
            done = {b.day: b for share in pool.map(_write_days, shares) for b in share}
        built = [done[day] for day in days]
    else:
        built = [write_issue(project, day, out / folder_name(day), stored=(stored or {}).get(day)) for day in days]
    (out / "index.html").write_text(_index(project, built), encoding="utf-8")
    return built


_WORK: tuple[Project, Path, Mapping[date, Edition]] | None = None  # a build process's work (inherited by fork)


def _adopt(project: Project, out: Path, stored: Mapping[date, Edition]) -> None:
    global _WORK
    _WORK = (project, out, stored)


def _write_days(days: list[date]) -> list[BuiltIssue]:
    assert _WORK is not None
    project, out, stored = _WORK
    return [write_issue(project, day, out / folder_name(day), stored=stored.get(day)) for day in days]


def _index(project: Project, built: list[BuiltIssue]) -> str:
    rows = "\n".join(
        f"<tr><td>{b.number}</td><td>{label(b.day) if is_part_key(b.day) else format(b.day, '%a %d %b %Y')}</td>"
        f'<td><a href="{folder_name(b.day)}/email.html">{html.escape(b.subject)}</a></td>'
        f'<td><a href="{folder_name(b.day)}/email.txt">text</a></td><td>{b.words}</td>'
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
