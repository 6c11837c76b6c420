"""The preferences page in real headless Chromium: axe-core finds zero violations (light and dark, phone and
desktop), and it works with JavaScript switched off — the reader changes country and pauses with plain forms."""

from __future__ import annotations

from datetime import date

import pytest

from campaign.delivery.tokens import Tokens
from tests.conftest import TEST_SECRET, people
from tests.test_axe import AXE_OPTIONS
from tests.web_live import add_subscribers, live_web

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def _axe(page, axe_script: str) -> list[str]:
    page.evaluate(axe_script)
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    return [f"{v['id']}: {v['help']} — {n['target']}" for v in result["violations"] for n in v["nodes"][:3]]


def test_the_page_has_no_axe_violation_and_works_without_javascript(campaign_dir, browser, axe_script):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        reader = web.store.subscriber_by_email("reader00001@example.org")
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(reader.id, date.today())}"
        for width, scheme in ((375, "light"), (375, "dark"), (800, "light")):
            context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            try:
                page = context.new_page()
                page.goto(url)
                found = _axe(page, axe_script)
                assert found == [], (width, scheme, found)
            finally:
                context.close()

        context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(url)
            page.select_option("#country", "GB")
            page.fill("#timezone", "Europe/London")
            page.check("#format-text")
            page.get_by_role("button", name="Save").click()
            page.wait_for_selector("text=Saved")
            assert web.store.subscriber_by_email("reader00001@example.org").country == "GB"
            assert web.store.subscriber_format(reader.id) == "text"
            page.check("#pause-14")
            page.get_by_role("button", name="Pause").click()
            page.wait_for_selector("text=Paused")
            assert web.store.paused_until(reader.id) is not None
        finally:
            context.close()
        context = browser.new_context(viewport={"width": 375, "height": 900})
        try:
            page = context.new_page()
            page.goto(url)
            assert "Samaritans" in page.content()  # the page's crisis block follows the new country
            assert _axe(page, axe_script) == []
        finally:
            context.close()


def test_the_delete_confirmation_and_the_chart_page_have_no_axe_violation(campaign_dir, browser, axe_script):
    add_subscribers(campaign_dir, people(2))
    campaign_dir.run("send", "1", "--yes", check=True)
    with live_web(campaign_dir, env={"CAMPAIGN_METRICS_TOKEN": "m" * 32}) as web:
        reader = web.store.subscriber_by_email("reader00001@example.org")
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(reader.id, date.today())}"
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": 375, "height": 900}, color_scheme=scheme)
            try:
                page = context.new_page()
                page.goto(url)
                page.get_by_role("button", name="Delete me").click()
                page.wait_for_selector("text=Yes, delete me")
                assert _axe(page, axe_script) == [], scheme
                page.goto(f"{web.url}/metrics/engagement?token={'m' * 32}")
                assert page.locator("svg").count() == 1
                assert _axe(page, axe_script) == [], scheme
            finally:
                context.close()
        assert web.store.subscriber_by_email("reader00001@example.org") is not None  # only asked
