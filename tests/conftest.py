"""Shared fixtures: a throw-away campaign folder (copy of the real one), its settings, store and CLI.

Tests use the real files, a real SQLite database in a temporary folder, and the real `campaign` command in
a subprocess — never mocks of our own code.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from campaign.config import Settings, load_settings
from campaign.ledger.store import Store
from campaign.series.project import Project, load_project

REPO = Path(__file__).resolve().parents[1]
CAMPAIGN_BIN = Path(sys.executable).parent / "campaign"
TEST_SECRET = "test-secret-key-for-signing-tokens"


@dataclass
class CampaignDir:
    """A campaign folder in tmp_path, with its own database and outbox."""

    root: Path
    env: dict

    @property
    def settings(self) -> Settings:
        return load_settings(self.root, self.env)

    def project(self) -> Project:
        return load_project(self.settings)

    def store(self) -> Store:
        return Store.open(self.settings.database_url)

    @property
    def outbox(self) -> Path:
        return self.settings.outbox_dir

    def run(
        self, *args: str, check: bool = False, env: dict | None = None, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run the real `campaign` command in this folder."""
        result = subprocess.run(
            [str(CAMPAIGN_BIN), *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"campaign {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def write_csv(self, rows: list[dict], name: str = "subscribers.csv") -> Path:
        path = self.root / name
        fields = ["email", "name", "country", "timezone"]
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in fields})
        return path

    def edit_schedule(self, old: str, new: str) -> None:
        path = self.root / "schedule.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in schedule.yaml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def copy_campaign(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "schedule.yaml", dest / "schedule.yaml")
    shutil.copytree(REPO / "content", dest / "content")
    shutil.copytree(REPO / "templates", dest / "templates")
    return dest


def base_env(root: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CAMPAIGN_", "POSTMARK_", "SENDGRID_", "MAILGUN_", "RESEND_", "SMTP_"))
    }
    env.update(
        {
            "CAMPAIGN_DATABASE_URL": f"sqlite:///{root / 'campaign.db'}",
            "CAMPAIGN_OUTBOX": str(root / "outbox"),
            "CAMPAIGN_PUBLIC_URL": "https://news.example.org",
            "CAMPAIGN_SECRET_KEY": TEST_SECRET,
            "COLUMNS": "200",
        }
    )
    return env


@pytest.fixture
def campaign_dir(tmp_path: Path) -> CampaignDir:
    root = copy_campaign(tmp_path / "campaign")
    return CampaignDir(root, base_env(root))


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def people(n: int, *, domain: str = "example.org", country: str | None = None) -> list[dict]:
    return [
        {"email": f"reader{i:05d}@{domain}", "name": f"Reader {i}", "country": country or ""} for i in range(1, n + 1)
    ]
