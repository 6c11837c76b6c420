"""Pictures for organisers: each built email.html in headless Chromium at 375 px and 800 px, light and dark,
plus a contact sheet of every day (`campaign preview DAY --screenshot`, `campaign build --screenshots`).

Chromium is the system one (Debian's /usr/bin/chromium, or CAMPAIGN_CHROMIUM), driven by Playwright; nothing
is downloaded. Pages are loaded from the file with every network request blocked, so the pictures show what
a reader with remote content off sees, and nothing leaves the machine.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from campaign.config import Settings
from campaign.errors import ConfigurationError, Problem

WIDTHS = (375, 800)  # a phone, and a desktop client's reading pane
SCHEMES = ("light", "dark")
INSTALL = "apt-get install chromium    (Debian/Ubuntu; then run the command again)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path(settings: Settings) -> Path:
    """The Chromium binary, or a ConfigurationError saying how to install it."""
    configured = settings.get("CAMPAIGN_CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    where = configured or "/usr/bin/chromium"
    raise ConfigurationError(
        Problem(
            "environment",
            None,
            "CAMPAIGN_CHROMIUM" if configured else "chromium",
            f"headless Chromium is needed for screenshots and was not found at {where}",
            INSTALL + (" or point CAMPAIGN_CHROMIUM at it" if configured else ""),
        )
    )


@dataclass(frozen=True)
class Shot:
    width: int
    scheme: str
    path: Path


class Camera:
    """One headless Chromium with one page per (width, scheme), reused for every picture."""

    def __init__(self, browser):
        self.browser = browser
        self.pages: dict[tuple[int, str], object] = {}

    def _page(self, width: int, scheme: str):
        page = self.pages.get((width, scheme))
        if page is None:
            context = self.browser.new_context(
                viewport={"width": width, "height": 800}, color_scheme=scheme, device_scale_factor=1
            )
            page = context.new_page()
            page.route("**/*", _local_only)
            self.pages[(width, scheme)] = page
        return page

    def shoot(self, html_path: Path, out_dir: Path, stem: str = "email") -> list[Shot]:
        out_dir.mkdir(parents=True, exist_ok=True)
        url = html_path.resolve().as_uri()
        shots = []
        for width in WIDTHS:
            for scheme in SCHEMES:
                page = self._page(width, scheme)
                page.goto(url, wait_until="load")
                path = out_dir / f"{stem}-{width}-{scheme}.png"
                page.screenshot(path=str(path), full_page=True)
                shots.append(Shot(width, scheme, path))
        return shots


def _local_only(route) -> None:
    """Files load; anything from the network is refused (the pictures never fetch remote content)."""
    if route.request.url.startswith(("file:", "data:")):
        route.continue_()
    else:
        route.abort()


@contextmanager
def camera(settings: Settings) -> Iterator[Camera]:
    binary = chromium_path(settings)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigurationError(
            Problem(
                "environment",
                None,
                "playwright",
                "the Python package playwright is needed to drive Chromium",
                "pip install playwright (no browser download is needed: the system Chromium is used)",
            )
        ) from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(binary), args=CHROMIUM_ARGS, headless=True)
        try:
            yield Camera(browser)
        finally:
            browser.close()


@dataclass(frozen=True)
class SheetEntry:
    number: int
    day: str
    subject: str
    html_path: Path
    shots: Sequence[Shot]


def contact_sheet(entries: Sequence[SheetEntry], out: Path, title: str) -> Path:
    """An HTML page of every day's pictures side by side (light and dark, phone and desktop)."""
    base = out.parent.resolve()

    def rel(path: Path) -> str:
        return html.escape(path.resolve().relative_to(base).as_posix(), quote=True)

    rows = []
    for e in entries:
        cells = "".join(
            f'<figure><a href="{rel(s.path)}"><img src="{rel(s.path)}" alt="day {e.number}, {s.width} px, {s.scheme}" '
            f'loading="lazy" width="{s.width // 3}"></a><figcaption>{s.width} px {s.scheme}</figcaption></figure>'
            for s in e.shots
        )
        rows.append(
            f'<section><h2>Day {e.number} · {html.escape(e.day)} · <a href="{rel(e.html_path)}">'
            f"{html.escape(e.subject)}</a></h2><div class=row>{cells}</div></section>"
        )
    name = html.escape(title)
    out.write_text(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} — contact sheet</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2933;background:#fff}}
.row{{display:flex;gap:1rem;align-items:flex-start;overflow-x:auto}}figure{{margin:0}}
img{{border:1px solid #ccc;height:auto;display:block}}figcaption{{font-size:.8rem;color:#52606d}}
h2{{font-size:1rem;margin:1.5rem 0 .5rem}}a{{color:#0b6e69}}
@media (prefers-color-scheme: dark){{body{{background:#111827;color:#e5e7eb}}a{{color:#5eead4}}
figcaption{{color:#cbd2d9}}}}</style></head>
<body><h1>{name}: {len(entries)} days</h1>
{"".join(rows)}
</body></html>
""",
        encoding="utf-8",
    )
    return out


def shoot_preview(settings: Settings, built) -> list[Path]:
    """The four pictures of one built issue (a `BuiltIssue`), next to its email.html."""
    with camera(settings) as cam:
        return [s.path for s in cam.shoot(built.html_path, built.html_path.parent)]


def shoot_series(settings: Settings, project, built: Sequence, out_dir: Path) -> Path:
    """Pictures of every built day, plus OUT/contact-sheet.html; returns the contact sheet's path."""
    chromium_path(settings)  # before starting anything: say how to install it
    entries = []
    with camera(settings) as cam:
        for b in built:
            shots = cam.shoot(b.html_path, b.html_path.parent)
            entries.append(SheetEntry(b.number, f"{b.day:%a %d %b %Y}", b.subject, b.html_path, shots))
    return contact_sheet(entries, out_dir / "contact-sheet.html", project.schedule.campaign.name)
