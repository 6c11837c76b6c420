"""`campaign preview DAY --screenshot` and `campaign build --screenshots`: real PNGs from headless Chromium,
and a clear way out (exit 2, the install command) when Chromium is missing."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is not installed — the CI script must install it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_preview_writes_four_pngs(campaign_dir):
    result = campaign_dir.run("preview", "10", "--screenshot", check=True)
    paths = [campaign_dir.root / line for line in result.stdout.split()]
    html, *pngs = paths
    assert html.name == "email.html" and len(pngs) == 4
    assert sorted(p.name for p in pngs) == sorted(f"email-{w}-{s}.png" for w in (375, 800) for s in ("light", "dark"))
    for png in pngs:
        width, height = png_size(png)
        assert width == int(png.name.split("-")[1]) and height > 600  # the whole email, not one screen
    light, dark = (html.parent / f"email-375-{s}.png" for s in ("light", "dark"))
    assert light.read_bytes() != dark.read_bytes()


def test_without_chromium_it_says_how_to_install_it(campaign_dir):
    result = campaign_dir.run("preview", "10", "--screenshot", env={"CAMPAIGN_CHROMIUM": "/nonexistent/chromium"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "apt-get install chromium" in result.stderr and "CAMPAIGN_CHROMIUM" in result.stderr


@pytest.mark.slow
def test_build_screenshots_every_day_and_a_contact_sheet(campaign_dir):
    result = campaign_dir.run("build", "--screenshots", check=True, timeout=600)
    build = campaign_dir.root / "build"
    sheet = build / "contact-sheet.html"
    assert f"contact sheet {Path('build') / 'contact-sheet.html'}" in result.stdout
    days = sorted(p for p in build.iterdir() if p.is_dir())
    assert len(days) == 30
    for day in days:
        assert len(list(day.glob("email-*.png"))) == 4, day
    page = sheet.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 120 and all((build / src).is_file() for src in images)
    assert page.startswith("<!doctype html>") and "Day 30" in page
