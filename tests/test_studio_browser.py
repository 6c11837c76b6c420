"""The studio in real headless Chromium (Playwright, Debian's chromium): sign in with a link, edit 12
September with live checking and preview (nothing saved while typing), save one line, the N1 finding beside
the note refusing the save, `<script>` shown as text, a template's script unable to reach the studio; and
axe-core finding no violation on the sign-in, series, day, history and audit pages (light and dark)."""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
from datetime import UTC, datetime

import pytest
import waitress

from campaign.ledger.states import Role
from campaign.ledger.studio import StudioLedger
from campaign.studio.app import create_studio_app
from campaign.web import server_options
from tests.test_axe import AXE_OPTIONS
from tests.web_live import stop_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

D12 = "2027-09-12"


class LiveStudio:
    def __init__(self, campaign):
        self.campaign = campaign
        holder = {}
        self.server = waitress.create_server(
            lambda environ, start: holder["app"](environ, start),
            host="127.0.0.1",
            port=0,
            threads=4,
            **server_options(campaign.settings),
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        campaign.env["CAMPAIGN_STUDIO_URL"] = self.url
        self.store = campaign.store()
        self.app = create_studio_app(campaign.settings, self.store)
        holder["app"] = self.app
        self.ledger = StudioLedger(self.store.engine)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def link(self, email: str, role: str = "editor") -> str:
        user = self.ledger.user_by_email(email) or self.ledger.add_user(email, Role(role), at=datetime.now(UTC))[0]
        token = secrets.token_urlsafe(32)
        self.ledger.add_signin_link(user.id, token, at=datetime.now(UTC))
        return f"{self.url}/studio/signin/{token}"

    def close(self):
        stop_server(self.server, self.thread)
        self.app.extensions["studio"].mailer.close()
        self.store.close()


def git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def live(campaign_dir):
    root = campaign_dir.root
    git(root, "init", "-q")
    git(root, "add", "schedule.yaml", "templates")
    git(root, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "start")
    studio = LiveStudio(campaign_dir)
    yield studio
    studio.close()


def sign_in(browser, live, email="ed@example.org", role="editor", scheme="light"):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith((live.url, "about:", "data:")) else r.abort()
    )
    page = context.new_page()
    page.goto(live.link(email, role))
    page.get_by_role("button", name="Sign in").press("Enter")  # from the keyboard
    page.wait_for_url(f"{live.url}/studio/")
    return context, page


def wait_checked(page, previous_frame: str | None = None) -> str:
    page.wait_for_function(
        "prev => document.querySelector('#status').textContent.startsWith('Checked')"
        " && document.querySelector('iframe').getAttribute('src') !== prev",
        arg=previous_frame or "about:blank",
    )
    return page.locator("iframe").first.get_attribute("src")


def frame_for(page, src: str):
    """The preview frame once it shows `src` (the iframe navigates after the page sets its src)."""
    for _ in range(200):
        for frame in page.frames:
            if frame.url.endswith(src):
                frame.wait_for_load_state()
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no frame loaded {src}")


def test_edit_a_day_in_the_browser(browser, live):
    context, page = sign_in(browser, live)
    schedule = live.campaign.root / "schedule.yaml"
    original = schedule.read_text(encoding="utf-8")
    try:
        page.goto(f"{live.url}/studio/days/{D12}")
        frame_src = wait_checked(page)
        # typing: the preview and findings update, nothing is saved
        page.locator("#subject").fill("Living with PTSD, gently")
        frame_src = wait_checked(page, frame_src)
        frame = frame_for(page, frame_src)
        assert "Living with PTSD, gently" in frame.content()
        assert "Living with PTSD, gently" in page.locator("#text-part").text_content()
        assert schedule.read_text(encoding="utf-8") == original
        # a long subject: the warning shows beside the subject, live
        page.locator("#subject").fill("Living with PTSD, gently " + "and with care " * 5)
        frame_src = wait_checked(page, frame_src)
        assert "over 70" in page.locator("#findings-subject").text_content()
        page.locator("#subject").fill("Living with PTSD, gently")
        frame_src = wait_checked(page, frame_src)
        # save: exactly one changed line, every comment kept
        page.locator("#save").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Saved')")
        assert git(live.campaign.root, "diff", "--numstat", "schedule.yaml").split()[:2] == ["1", "1"]
        saved = schedule.read_text(encoding="utf-8")
        comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
        assert [line for line in saved.splitlines() if line.lstrip().startswith("#")] == comments
        # a phone number in the note: N1 beside the note, and saving is refused with the file unchanged
        page.locator("#note").fill("If you need to talk, call 1-800-555-0199.")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Checked: fix')")
        note_findings = page.locator("#findings-note li.error")
        assert "N1" in note_findings.first.text_content()
        assert page.locator("#note").get_attribute("aria-invalid") == "true"
        page.locator("#save").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Not saved')")
        assert "N1" in page.locator("#findings-note").text_content()
        assert schedule.read_text(encoding="utf-8") == saved
    finally:
        context.close()


def test_script_in_a_subject_is_text_and_a_template_script_cannot_reach_the_studio(browser, live):
    template = live.campaign.root / "templates" / "issue.mjml.j2"
    source = template.read_text(encoding="utf-8")
    hostile = "<script>try{window.top.document.body.setAttribute('data-pwned','1')}catch(e){}window.ran=1</script>"
    template.write_text(
        source.replace('<p class="c-muted">From our article', hostile + '<p class="c-muted">From our article'),
        encoding="utf-8",
    )
    context, page = sign_in(browser, live)
    try:
        page.goto(f"{live.url}/studio/days/{D12}")
        frame_src = wait_checked(page)
        subject = "<script>document.body.setAttribute('data-pwned','2')</script>Hi"
        page.locator("#subject").fill(subject)
        frame_src = wait_checked(page, frame_src)
        page.wait_for_timeout(300)
        assert page.evaluate("() => document.body.getAttribute('data-pwned')") is None
        # the frame is sandboxed: an opaque origin the studio cannot read and that cannot read the studio
        assert page.locator("iframe").first.get_attribute("sandbox") == ""
        assert page.evaluate("() => document.querySelector('iframe').contentDocument") is None
        frame = frame_for(page, frame_src)
        assert "window.ran=1" in frame.content()  # the template's script is in the email...
        assert frame.evaluate("() => typeof window.ran") == "undefined"  # ...and never ran
        assert "&lt;script&gt;document.body" in frame.content()
        page.locator("#save").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Saved')")
        page.goto(f"{live.url}/studio/")
        assert page.get_by_text(subject).count() >= 1  # shown as text on the series page
        assert page.evaluate("() => document.body.getAttribute('data-pwned')") is None
    finally:
        context.close()
        template.write_text(source, encoding="utf-8")


def axe_violations(page, axe_script: str, label: str) -> list[str]:
    page.evaluate(axe_script)
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    return [
        f"{label}: {v['id']} ({v['impact']}): {v['help']} — {' '.join(n['target'])}"
        for v in result["violations"]
        for n in v["nodes"][:5]
    ]


@pytest.fixture(scope="module")
def axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_the_studio_pages(browser, live, axe_script, scheme):
    found: list[str] = []
    anonymous = browser.new_context(color_scheme=scheme)
    try:
        page = anonymous.new_page()
        page.goto(f"{live.url}/studio/signin")
        found += axe_violations(page, axe_script, "sign-in")
    finally:
        anonymous.close()
    context, page = sign_in(browser, live, "ann@example.org", "admin", scheme)
    try:
        found += axe_violations(page, axe_script, "series")
        page.goto(f"{live.url}/studio/days/{D12}")
        wait_checked(page)
        page.locator("#subject").fill("Living with PTSD, gently")
        wait_checked(page, page.locator("iframe").first.get_attribute("src"))
        page.locator("#save").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Saved')")
        found += axe_violations(page, axe_script, "day")
        page.goto(f"{live.url}/studio/history?revision=1")
        found += axe_violations(page, axe_script, "history")
        page.goto(f"{live.url}/studio/audit")
        found += axe_violations(page, axe_script, "audit")
        page.goto(f"{live.url}/studio/article")
        page.locator("#article-text").press("End")
        page.keyboard.type(" More.")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Checked')")
        found += axe_violations(page, axe_script, "article")
    finally:
        context.close()
    assert found == [], "\n".join(found)


def test_the_day_page_works_from_the_keyboard(browser, live):
    context, page = sign_in(browser, live)
    try:
        page.goto(f"{live.url}/studio/")
        page.keyboard.press("Tab")  # the skip link first
        assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
        page.goto(f"{live.url}/studio/days/{D12}")
        frame_src = wait_checked(page)
        page.locator("#subject").focus()
        page.keyboard.press("End")
        page.keyboard.type(" today")
        wait_checked(page, frame_src)
        for _ in range(12):  # tab on to the Save button and press it
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == "save":
                break
        assert page.evaluate("() => document.activeElement.id") == "save"
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Saved')")
        assert re.search(
            r'subject: "Understanding PTSD with compassion today"', (live.campaign.root / "schedule.yaml").read_text()
        )
    finally:
        context.close()


def test_the_preview_at_375_and_800_px_light_and_dark_for_any_country(browser, live):
    context, page = sign_in(browser, live)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(f"{live.url}/studio/days/2027-09-10")
        src = wait_checked(page)
        page.locator("#country").select_option("GB")
        src = wait_checked(page, src)
        boxes = [page.locator(f"iframe[data-width='{w}']").bounding_box() for w in (375, 800)]
        assert [round(b["width"]) for b in boxes] == [375, 800]
        frame = frame_for(page, src)
        assert "Samaritans" in frame.locator("body").inner_text()  # rendered inside the frame
        assert "Samaritans" in page.locator("#text-part").inner_text()  # the text part beside it

        def background() -> str:
            return frame_for(page, src).locator("body").evaluate("el => getComputedStyle(el).backgroundColor")

        assert background() == "rgb(244, 241, 236)"  # light
        page.get_by_label("Dark").check()
        src = wait_checked(page, src)
        assert background() == "rgb(17, 24, 39)"  # the email's own dark theme (#111827)
    finally:
        context.close()
    assert errors == [], errors


def test_the_article_page_shows_which_days_change_while_typing(browser, live):
    context, page = sign_in(browser, live)
    article = live.campaign.root / "content" / "article.md"
    original = article.read_text(encoding="utf-8")
    try:
        page.goto(f"{live.url}/studio/article")
        text = page.locator("#article-text")
        text.fill(original.replace("## Final Thoughts\n", "## Final Thoughts\n\nA new first paragraph.\n", 1))
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Checked: nothing')")
        assert "now starts" in page.locator("#moves").text_content()
        assert article.read_text(encoding="utf-8") == original  # typing saves nothing
        page.locator("#save-article").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Saved')")
        assert "A new first paragraph." in article.read_text(encoding="utf-8")
    finally:
        context.close()


def test_a_conflict_in_the_page_shows_the_new_text_and_keeps_both(browser, live):
    context, page = sign_in(browser, live)
    schedule = live.campaign.root / "schedule.yaml"
    try:
        page.goto(f"{live.url}/studio/days/{D12}")
        src = wait_checked(page)
        live.campaign.edit_schedule("Understanding OCD beyond the stereotypes", "OCD, edited in a text editor")
        on_disk = schedule.read_text(encoding="utf-8")
        page.locator("#subject").fill("My own subject")
        wait_checked(page, src)
        page.locator("#save").click()
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Not saved')")
        assert page.locator("#conflict").is_visible()
        assert "OCD, edited in a text editor" in page.locator("#conflict-text").text_content()
        assert page.locator("#subject").input_value() == "My own subject"  # the organiser's text is kept
        assert schedule.read_text(encoding="utf-8") == on_disk  # and so is the other version
    finally:
        context.close()
