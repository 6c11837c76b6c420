"""The rendered email in real headless Chromium: readable on a phone, and really dark in dark mode.

premailer inlines every colour, so dark mode works only if the @media overrides keep `!important`; this is
checked on computed styles in a real browser, not by reading the CSS.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def issue_file(tmp_path_factory):
    from tests.conftest import CampaignDir, base_env, copy_campaign

    root = copy_campaign(tmp_path_factory.mktemp("browser") / "campaign")
    campaign_dir = CampaignDir(root, base_env(root))
    from campaign.series.build import write_issue

    project = campaign_dir.project()
    built = write_issue(project, project.schedule.dates[1], root / "out")
    return built.html_path


def computed(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"el => getComputedStyle(el).getPropertyValue('{prop}')")


@pytest.mark.browser
@pytest.mark.parametrize(
    "scheme,card,text",
    [("light", "rgb(255, 255, 255)", "rgb(31, 41, 51)"), ("dark", "rgb(31, 41, 55)", "rgb(229, 231, 235)")],
)
def test_colours_follow_the_reader_colour_scheme(browser, issue_file, scheme, card, text):
    page = browser.new_page(color_scheme=scheme, viewport={"width": 800, "height": 1200})
    page.goto(issue_file.as_uri())
    assert computed(page, ".c-card", "background-color") == card
    assert computed(page, ".c-body p:not(.c-kicker):not(.c-muted)", "color") == text
    crisis = computed(page, ".c-crisis", "background-color")
    assert crisis == ("rgb(230, 244, 241)" if scheme == "light" else "rgb(15, 61, 56)")
    page.close()


@pytest.mark.browser
def test_readable_on_a_phone_without_sideways_scrolling(browser, issue_file):
    page = browser.new_page(viewport={"width": 375, "height": 800}, device_scale_factor=2, is_mobile=True)
    page.goto(issue_file.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    size = float(computed(page, ".c-body p:not(.c-kicker):not(.c-muted)", "font-size").rstrip("px"))
    assert size >= 16  # body text readable without zooming
    assert page.is_visible("text=988") and page.is_visible("text=Unsubscribe")
    page.close()
