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
