"""axe-core (the copy shipped in the PyPI package axe-playwright-python) over every built email.html in
real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): zero violations at 375 px in light
and dark mode and at 800 px — colour contrast on computed styles included.

Without Chromium these tests skip locally but fail in CI (the CI script installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.series.build import build_series, write_issue

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE_OPTIONS = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}


@pytest.fixture(scope="module")
def axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def violations(browser, axe_script: str, html_path: Path, width: int, scheme: str) -> list[str]:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        page.evaluate(axe_script)
        result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    finally:
        context.close()
    found = []
    for v in result["violations"]:
        for node in v["nodes"][:5]:
            found.append(
                f"{html_path.parent.name} {width}px {scheme}: {v['id']} ({v['impact']}): {v['help']} — "
                f"{' '.join(node['target'])}: {node.get('failureSummary', '').replace(chr(10), ' ')}"
            )
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from tests.conftest import CampaignDir, base_env, copy_campaign

    root = copy_campaign(tmp_path_factory.mktemp("axe") / "campaign")
    project = CampaignDir(root, base_env(root)).project()
    return project, build_series(project, root / "build")


def test_every_day_at_375_px_dark_has_no_violation(browser, axe_script, built):
    _, issues = built
    found = [line for b in issues for line in violations(browser, axe_script, b.html_path, 375, "dark")]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(("width", "scheme"), [(375, "light"), (800, "light"), (800, "dark")])
def test_day_10_light_dark_and_desktop(browser, axe_script, built, width, scheme):
    _, issues = built
    day10 = next(b for b in issues if b.number == 10)
    found = violations(browser, axe_script, day10.html_path, width, scheme)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("country", ["GB", "INTL"])
def test_other_crisis_variants_at_375_px(browser, axe_script, built, country, tmp_path):
    project, issues = built
    variant = "INTL" if country == "INTL" else project.variant_for(country)
    other = write_issue(project, issues[0].day, tmp_path / "variant", variant=variant)
    found = [
        line for scheme in ("light", "dark") for line in violations(browser, axe_script, other.html_path, 375, scheme)
    ]
    assert found == [], "\n".join(found)
