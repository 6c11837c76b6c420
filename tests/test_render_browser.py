"""The rendered email in real headless Chromium: readable on a phone, and really dark in dark mode.

premailer inlines every colour, so dark mode works only if the @media overrides keep `!important`; this is
checked on computed styles in a real browser, not by reading the CSS.
"""

from __future__ import annotations

import pytest


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


VISIBLE_JS = """sel => {
  const el = typeof sel === 'string' && sel.startsWith('text=')
    ? [...document.querySelectorAll('p')].find(p => p.textContent.includes(sel.slice(5)))
    : document.querySelector(sel);
  if (!el) return ['not found'];
  const problems = [];
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const s = getComputedStyle(node);
    if (s.display === 'none') problems.push('display:none on ' + node.tagName);
    if (s.visibility !== 'visible') problems.push('visibility on ' + node.tagName);
    if (parseFloat(s.opacity) < 0.5) problems.push('opacity on ' + node.tagName);
  }
  const s = getComputedStyle(el), box = el.getBoundingClientRect();
  if (parseFloat(s.fontSize) < 12) problems.push('font-size ' + s.fontSize);
  if (box.height < 20 || box.width < 100) problems.push('box ' + box.width + 'x' + box.height);
  return problems;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 800])
def test_the_crisis_block_and_disclaimer_are_visible_on_computed_styles(browser, issue_file, scheme, width):
    page = browser.new_page(color_scheme=scheme, viewport={"width": width, "height": 900})
    page.goto(issue_file.as_uri())
    for target in (".c-crisis", ".c-crisis li", "text=This content is for informational"):
        assert page.evaluate(VISIBLE_JS, target) == [], target
    page.close()


@pytest.mark.browser
def test_the_header_strip_and_footer_turn_dark_with_readable_links(browser, issue_file):
    page = browser.new_page(color_scheme="dark", viewport={"width": 800, "height": 1200})
    page.goto(issue_file.as_uri())
    colours = page.eval_on_selector_all(
        ".c-band",
        "els => els.map(el => [getComputedStyle(el).backgroundColor,"
        " getComputedStyle(el.querySelector('a.c-link')).color])",
    )
    assert len(colours) == 2  # header strip ("View in your browser") and footer ("Unsubscribe")
    for background, link in colours:
        assert background == "rgb(17, 24, 39)" and link == "rgb(94, 234, 212)"  # 12:1
    assert computed(page, "body", "background-color") == "rgb(17, 24, 39)"
    assert page.evaluate("document.compatMode") == "CSS1Compat"  # the doctype: no quirks mode
    page.close()
