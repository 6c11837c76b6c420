"""Real headless Chromium (Debian's /usr/bin/chromium driven by Playwright — no browser download) against a
real waitress server: a reader unsubscribes from a sent email, and a new reader signs up and confirms.

Without Chromium these tests skip locally but fail in CI (the CI script installs it)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from campaign.ledger.states import ACTIVE, PENDING, UNSUBSCRIBED
from tests.conftest import people
from tests.conftest import wait_until as wait_for
from tests.web_live import add_subscribers, eml_for, list_unsubscribe_url, live_web, parts, read_eml

pytestmark = pytest.mark.browser

DAY1, DAY2 = date(2027, 9, 1), date(2027, 9, 2)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone, where most mail is read
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    # A CSP violation (e.g. a style without the nonce) shows up as a console error.
    assert errors == [], errors


def test_unsubscribe_from_a_sent_email_in_the_browser(campaign_dir, page):
    add_subscribers(campaign_dir, people(2))
    reader = "reader00001@example.org"
    with live_web(campaign_dir) as web:
        campaign_dir.run("send", "1", "--yes", check=True)
        message = read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), reader))
        html, text = parts(message)
        link = list_unsubscribe_url(message)
        assert f'href="{link}"' in html  # the visible link is the same one-click URL

        # "View in your browser" renders the archived issue (its inline styles allowed by the archive's CSP).
        page.goto(re.search(r"View in your browser: (\S+)", text).group(1))
        assert "Welcome: a month of hope" in page.get_by_role("heading", level=1).inner_text()
        assert page.get_by_text("You are not alone. Help is available.").is_visible()

        page.goto(link)
        assert page.get_by_role("heading", level=1).inner_text().startswith("Unsubscribe from")
        # The nonce'd stylesheet applied (CSP let it through) and the page fits a phone without side-scrolling.
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 241, 236)"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert web.store.subscriber_by_email(reader).status == ACTIVE  # opening the page changed nothing
        assert page.get_by_role("button", name="Pause these emails for 7 days").is_visible()
        page.get_by_role("button", name="Unsubscribe", exact=True).click()
        page.wait_for_url(link)
        assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
        assert page.get_by_role("status").is_visible()
        assert web.store.subscriber_by_email(reader).status == UNSUBSCRIBED

    campaign_dir.run("send", "2", "--yes", check=True)
    day2 = campaign_dir.outbox / DAY2.isoformat()
    assert not list(day2.glob(f"*-{reader}.eml"))  # no later issue
    assert len(list(day2.glob("*-reader00002@example.org.eml"))) == 1  # the other reader still gets it


def test_sign_up_through_the_form_and_confirm_from_the_email(campaign_dir, browser):
    email = "new.reader@example.org"
    # A reader in Chicago: the browser reports the zone, the form fills it in (the page's one nonce'd script).
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="America/Chicago")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        with live_web(campaign_dir) as web:
            page.goto(f"{web.url}/subscribe")
            assert page.get_by_label("Time zone").input_value() == "America/Chicago"
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Name").fill("Robin")
            page.get_by_label("Country").select_option(label="United Kingdom")
            page.get_by_label("Time zone").fill("Europe/London")  # editable: the reader knows better
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(f"{web.url}/subscribe")
            assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
            assert web.store.subscriber_by_email(email).status == PENDING

            folder = campaign_dir.outbox / "confirmations"
            eml = wait_for(
                lambda: sorted(folder.glob(f"*/*-{email}.eml")) if folder.exists() else None,
                what="the confirmation email in the outbox",
            )[0]
            html, _ = parts(read_eml(eml))
            confirm = re.search(r'href="(http://127\.0\.0\.1:\d+/confirm/[^"]+)"', html).group(1)
            page.goto(confirm)  # what a link scanner also does: nothing happens
            assert page.get_by_role("heading", level=1).inner_text() == "Confirm your subscription"
            assert web.store.subscriber_by_email(email).status == PENDING
            page.get_by_role("button", name="Confirm my subscription").click()
            page.wait_for_url(confirm)
            assert page.get_by_role("heading", level=1).inner_text() == "You are subscribed"
            subscriber = web.store.subscriber_by_email(email)
            assert (subscriber.status, subscriber.name, subscriber.country, subscriber.timezone) == (
                ACTIVE,
                "Robin",
                "GB",
                "Europe/London",
            )
    finally:
        context.close()
    assert errors == [], errors  # the script ran under the CSP (a blocked script is a console error)

    campaign_dir.run("send", "1", "--yes", check=True)
    issue = read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), email))
    html, text = parts(issue)
    assert "Hi Robin," in text and "Samaritans" in text and "Samaritans" in html
