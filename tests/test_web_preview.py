"""The organiser preview: `campaign serve --preview`, a real subprocess on 127.0.0.1, re-reading the files on
every request."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from contextlib import contextmanager

import requests

from tests.conftest import CAMPAIGN_BIN

SERVING = re.compile(r"serving the (?:preview|web pages) on (http://[\d.]+:\d+)/")


@contextmanager
def serve(campaign_dir, *args: str, timeout: float = 30):
    proc = subprocess.Popen(
        [str(CAMPAIGN_BIN), "serve", *args],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_url(proc, timeout)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def _read_url(proc: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = ""
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"campaign serve exited {proc.returncode}: {seen}{proc.stderr.read()}")
            if selector.select(timeout=0.2):
                line = proc.stdout.readline()
                seen += line
                match = SERVING.search(line)
                if match:
                    return match.group(1)
        raise AssertionError(f"campaign serve printed no address within {timeout}s: {seen!r}")
    finally:
        selector.close()


def test_preview_renders_every_day_fresh_at_two_widths(campaign_dir):
    with serve(campaign_dir, "--preview", "--port", "0") as (url, _proc):
        assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        index = requests.get(f"{url}/preview/", timeout=30)
        assert index.status_code == 200
        assert index.text.count('href="/preview/2027-09-') == 30
        assert requests.get(url + "/", timeout=30).status_code == 200

        day = requests.get(f"{url}/preview/2027-09-01", timeout=30)
        assert day.status_code == 200
        frames = re.findall(r'<iframe class="frame-(\w+)"[^>]*src="([^"]+)"', day.text)
        assert [name for name, _ in frames] == ["phone", "desktop"]
        assert "Phone (375 px)" in day.text and "Desktop (700 px)" in day.text
        assert ".frame-phone { width: 375px; }" in day.text and ".frame-desktop { width: 700px; }" in day.text
        email = requests.get(url + frames[0][1].replace("&amp;", "&"), timeout=30)
        assert email.status_code == 200 and "Hi Alex," in email.text and "988" in email.text
        assert "SAMEORIGIN" == email.headers["X-Frame-Options"]
        gb = requests.get(f"{url}/preview/2027-09-01/email.html?country=GB", timeout=30)
        assert "Samaritans" in gb.text
        text = requests.get(f"{url}/preview/1/email.txt", timeout=30)
        assert text.headers["Content-Type"].startswith("text/plain") and "Medical disclaimer." in text.text
        web = requests.get(f"{url}/preview/2027-09-01/email.html?web=1", timeout=30)
        assert "Sign up for the series" in web.text and "Hi Alex" not in web.text

        # Edit and reload: no restart.
        campaign_dir.edit_schedule(
            'subject: "Welcome: a month of hope, learning and support"', 'subject: "Welcome to a month of hope"'
        )
        assert "Welcome to a month of hope" in requests.get(f"{url}/preview/2027-09-01", timeout=30).text

        # An invalid edit shows the problem with file, line and fix — never a traceback.
        campaign_dir.edit_schedule('send_time: "09:00"', 'send_tme: "09:00"')
        broken = requests.get(f"{url}/preview/", timeout=30)
        assert broken.status_code == 422
        assert re.search(r"schedule\.yaml:\d+", broken.text) and "send_tme" in broken.text
        assert "Traceback" not in broken.text
        framed = requests.get(f"{url}/preview/2027-09-01/email.html", timeout=30)
        assert framed.status_code == 422 and "schedule.yaml" in framed.text

        assert requests.get(f"{url}/preview/2027-10-01", timeout=30).status_code in (404, 422)


def test_unknown_days_are_404(campaign_dir):
    with serve(campaign_dir, "--preview", "--port", "0") as (url, _proc):
        for day in ("2027-10-01", "99", "tomorrow"):
            assert requests.get(f"{url}/preview/{day}", timeout=30).status_code == 404, day


def test_serve_on_a_public_address_refuses_the_development_key(campaign_dir):
    env = {k: v for k, v in campaign_dir.env.items() if k != "CAMPAIGN_SECRET_KEY"}
    result = subprocess.run(
        [str(CAMPAIGN_BIN), "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=campaign_dir.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CAMPAIGN_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_serve_stops_cleanly_on_sigterm(campaign_dir):
    with serve(campaign_dir, "--port", "0") as (url, proc):
        assert requests.get(f"{url}/archive/", timeout=30).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stderr.read()
    assert os.path.exists(campaign_dir.root / "campaign.db")


def _hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


def test_preview_dark_mode_toggle_text_part_and_links_that_work(campaign_dir):
    """In-process (the real preview app through Flask's test client): the dark-mode toggle applies the
    email's own dark rules, the text part sits beside the frames, and every link the organiser can click
    inside the preview — page footer, email footer — answers 200 instead of a 404."""
    from campaign.web import create_app

    client = create_app(campaign_dir.settings, preview=True).test_client()
    day = client.get("/preview/2027-09-10?country=GB")
    page = day.get_data(as_text=True)
    assert day.status_code == 200
    # The plain-text part, escaped, beside the two frames.
    text = client.get("/preview/2027-09-10/email.txt?country=GB").get_data(as_text=True)
    assert '<pre class="text-part"' in page and "Samaritans" in text
    first_line = next(line for line in text.splitlines() if line.strip() and "&" not in line and "<" not in line)
    assert first_line in page
    # The toggle: a link and a form option, both to ?dark=1, and the frames then load the dark email.
    toggle = re.search(r'href="([^"]+)" id="scheme-toggle">Switch to dark mode<', page).group(1).replace("&amp;", "&")
    assert "dark=1" in toggle and "country=GB" in toggle and 'name="dark"' in page
    dark_page = client.get(toggle).get_data(as_text=True)
    assert "Switch to light mode" in dark_page
    frames = re.findall(r'<iframe [^>]*src="([^"]+)"', dark_page)
    assert len(frames) == 2 and all("dark=1" in src for src in frames)
    dark = client.get(frames[0].replace("&amp;", "&")).get_data(as_text=True)
    light = client.get("/preview/2027-09-10/email.html?country=GB").get_data(as_text=True)
    assert not re.search(r"prefers-color-scheme:\s*dark\)", dark) and "@media all" in dark
    assert "@media not all" in light  # light really is light, whatever the organiser's system prefers

    # Every same-site link on the page and inside the email works in the preview (no 404, no public URL).
    email_links = _hrefs(light)
    assert "/preview/link/unsubscribe" in email_links
    assert any(h.startswith("/preview/2027-09-10/email.html?") and "web=1" in h for h in email_links)
    web_version = client.get(next(h for h in email_links if "web=1" in h)).get_data(as_text=True)
    assert "/preview/link/subscribe" in _hrefs(web_version)
    for href in {h for h in _hrefs(page) + email_links + _hrefs(web_version) if h.startswith("/")}:
        response = client.get(href)
        assert response.status_code == 200, href
    assert not [h for h in email_links if h.startswith(campaign_dir.settings.public_url)]
    stand_in = client.get("/preview/link/unsubscribe")
    assert (
        stand_in.headers["X-Frame-Options"] == "SAMEORIGIN"
        and "frame-ancestors 'self'" in stand_in.headers["Content-Security-Policy"]
    )
    assert "Nobody is unsubscribed" in stand_in.get_data(as_text=True)
    assert client.get("/preview/link/elsewhere").status_code == 404
