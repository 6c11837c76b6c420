"""A database on a full disk (a small tmpfs, mounted by the test when it may): `subscribers import` and `send`
print one line naming the cause and the fix, exit 1, leave nothing half-written, and raise an alert."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import people


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + done.stderr.decode(errors="replace").strip())
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Take every free byte left on the disk."""
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=4k"], capture_output=True)


def test_import_and_send_on_a_full_disk_say_one_line_and_alert(campaign_dir, small_disk, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    campaign_dir.env["CAMPAIGN_DATABASE_URL"] = f"sqlite:///{small_disk / 'campaign.db'}"
    campaign_dir.env["CAMPAIGN_ALERT_WEBHOOK_URL"] = httpserver.url_for("/hook")
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(5), "few.csv")), check=True)

    many = campaign_dir.write_csv(people(30_000), "many.csv")  # ~3 MB of rows: more than the disk holds
    result = campaign_dir.run("subscribers", "import", str(many))
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "disk holding the database" in lines[0] and "full" in lines[0]
    assert "Traceback" not in result.stderr and "sqlalchemy" not in result.stderr.lower()
    counted = campaign_dir.run("subscribers", "list", check=True).stdout
    assert "reader" in counted and counted.count("@example.org") == 5  # nothing half-imported

    fill(small_disk)
    sent = campaign_dir.run("send", "1", "--yes")
    assert sent.returncode == 1
    assert "Traceback" not in sent.stderr and "disk holding the database" in sent.stderr
    (small_disk / "filler").unlink()
    kinds = [json.loads(request.data)["kind"] for request, _ in httpserver.log]
    assert kinds.count("storage:database:failed") == 2
    texts = [json.loads(request.data)["text"] for request, _ in httpserver.log]
    assert "subscribers import" in texts[0] and "send 1" in texts[1]
