"""`campaign users add|list|remove|link`, `campaign audit [--since]` and `campaign studio` (issue 19): the real
command in a subprocess, the studio served by waitress on 127.0.0.1."""

from __future__ import annotations

import re
import signal
import subprocess

import requests

from tests.conftest import CAMPAIGN_BIN, wait_until


def test_users_add_list_link_remove_and_audit(campaign_dir):
    assert campaign_dir.run("users", "add", "ed@example.org", "--role", "editor", check=True).stdout.startswith("added")
    campaign_dir.run("users", "add", "Ann@Example.org", "--role", "approver", check=True)
    listed = campaign_dir.run("users", "list", check=True).stdout
    assert "ed@example.org  editor" in listed and "ann@example.org  approver" in listed
    link = campaign_dir.run("users", "link", "ed@example.org", check=True).stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8001/studio/signin/[A-Za-z0-9_-]{40,}", link)
    assert campaign_dir.run("users", "remove", "ed@example.org", check=True).returncode == 0
    assert "ed@example.org" not in campaign_dir.run("users", "list", check=True).stdout
    audit = campaign_dir.run("audit", check=True).stdout.splitlines()
    tags = [line.split("  ")[1] for line in audit]
    assert tags == ["user:account:add", "user:account:add", "user:signin_link:issued", "user:account:remove"]
    assert link.rsplit("/", 1)[1] not in "\n".join(audit)  # never a token in the log
    assert campaign_dir.run("audit", "--since", "2999-01-01", check=True).stdout == ""
    assert len(campaign_dir.run("audit", "--since", "1h", check=True).stdout.splitlines()) == 4


def test_bad_input_is_one_line_and_exit_2(campaign_dir):
    for args in (
        ("users", "add", "not-an-address"),
        ("users", "add", "ed@example.org", "--role", "owner"),
        ("users", "remove", "nobody@example.org"),
        ("users", "link", "nobody@example.org"),
        ("audit", "--since", "yesterday-ish"),
    ):
        result = campaign_dir.run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_campaign_studio_serves_and_a_printed_link_signs_in_once(campaign_dir):
    campaign_dir.run("users", "add", "ed@example.org", "--role", "editor", check=True)
    proc = subprocess.Popen(
        [str(CAMPAIGN_BIN), "studio", "--port", "0"],
        cwd=campaign_dir.root,
        env=campaign_dir.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/studio/", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        base = f"http://127.0.0.1:{match.group(1)}"
        link = campaign_dir.run("users", "link", "ed@example.org", check=True).stdout.strip()
        path = link.split(":8001", 1)[1]
        session = requests.Session()
        assert session.get(f"{base}/studio/", allow_redirects=False).status_code == 303
        page = session.get(base + path)
        page2 = session.get(base + path)  # a second GET changes nothing
        assert page.status_code == page2.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page2.text).group(1)
        signed = session.post(base + path, data={"csrf_token": csrf}, allow_redirects=False)
        assert signed.status_code == 303
        info = session.get(f"{base}/studio/api/session").json()
        assert info["user"] == "ed@example.org" and info["role"] == "editor"
        # a second POST is refused: with the old form's token (the session is new), and with a valid one
        assert session.post(base + path, data={"csrf_token": csrf}, allow_redirects=False).status_code == 403
        again = session.post(base + path, data={"csrf_token": info["csrf_token"]}, allow_redirects=False)
        assert again.status_code == 410
        assert session.get(f"{base}/studio/").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: proc.poll() is not None, timeout=20, what="the studio to stop")
        proc.stdout.close()
        proc.stderr.close()


def test_serve_preview_is_gone_and_points_at_the_studio(campaign_dir):
    result = campaign_dir.run("serve", "--preview", "--port", "0")
    assert result.returncode == 2 and "campaign studio" in result.stderr and "Traceback" not in result.stderr
    assert "--preview" not in campaign_dir.run("serve", "--help").stdout
