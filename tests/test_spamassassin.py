"""SpamAssassin (Debian's `spamassassin`, local tests only: -L) over a real built .eml — the message the
outbox wrote for `campaign send 1` in a temp project — must score below 1.0 and trip none of the rules the
issue found (quoted-printable lines too long, low-contrast text).

Without spamassassin this test skips locally and fails in CI (.ci/run installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.probe_servers import go_live

pytestmark = pytest.mark.slow  # SpamAssassin takes ~6 s to load its rules
FORBIDDEN = {"MIME_QP_LONG_LINE", "HTML_FONT_LOW_CONTRAST", "LONGLN_LOW_CONTRAST"}
MAX_SCORE = 1.0


def spamassassin() -> str:
    path = shutil.which("spamassassin")
    if path is None:
        message = "spamassassin is not installed (apt-get install spamassassin)"
        if os.environ.get("CI"):
            pytest.fail(message + " — the CI script must install it")
        pytest.skip(message)
    return path


def score(binary: str, eml: bytes, home) -> tuple[float, set[str], str]:
    """(score, rule names, report) of `spamassassin -L -t` (local tests only, no network, no learning)."""
    result = subprocess.run(
        [binary, "-L", "-t"],
        input=eml,
        capture_output=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"},
    )
    report = result.stdout.decode("utf-8", "replace")
    match = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert match, f"no SpamAssassin report:\n{report[-2000:]}\n{result.stderr.decode(errors='replace')[-2000:]}"
    details = report[match.start() :]
    rules = set(re.findall(r"^\s*-?[\d.]+\s+([A-Z][A-Z0-9_]+)\s", details, re.M))
    return float(match.group(1)), rules, details


def test_a_built_email_scores_below_one(campaign_dir, tmp_path):
    binary = spamassassin()
    campaign_dir.env.update(go_live(campaign_dir))  # a real-looking sender, as a real send would have
    campaign_dir.write_csv([{"email": "ann.reader@mind-matters-news.net", "name": "Ann Reader", "country": "US"}])
    campaign_dir.run("subscribers", "import", "subscribers.csv", check=True)
    campaign_dir.run("send", "1", "--yes", check=True)
    (eml,) = sorted(campaign_dir.outbox.glob("*/*.eml"))
    points, rules, details = score(binary, eml.read_bytes(), tmp_path)
    print(details)  # shown by pytest -rA / on failure: what SpamAssassin thought
    assert not rules & FORBIDDEN, details
    assert points < MAX_SCORE, details
