"""Shared fixtures: a throw-away campaign folder (copy of the real one), its settings, store and CLI.

Tests use the real files, a real SQLite database in a temporary folder (or a real PostgreSQL server the tests
start: `db_url`, `pg_url`, CAMPAIGN_TEST_DATABASE=postgresql), and the real `campaign` command in a
subprocess — never mocks of our own code.
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
CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there


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
        fields += ["joined_at"] if any("joined_at" in row for row in rows) else []
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
            # No test may reach the internet: every provider API and the DNS resolver point at a closed port
            # on this machine unless a test starts its own fake server and says so.
            **{f"{p}_API_URL": CLOSED_PORT_URL for p in ("POSTMARK", "SENDGRID", "MAILGUN", "RESEND")},
            "CAMPAIGN_DNS_SERVER": "127.0.0.1:9",
        }
    )
    return env


@pytest.fixture
def campaign_dir(request, tmp_path: Path) -> CampaignDir:
    """A campaign folder on SQLite — or, with CAMPAIGN_TEST_DATABASE=postgresql, on a fresh database of the
    tests' own PostgreSQL server (to run any test file on PostgreSQL too)."""
    root = copy_campaign(tmp_path / "campaign")
    env = base_env(root)
    if os.environ.get("CAMPAIGN_TEST_DATABASE") == "postgresql":
        env["CAMPAIGN_DATABASE_URL"] = request.getfixturevalue("pg_url")
    return CampaignDir(root, env)


@pytest.fixture
def receiver(httpserver):
    """A Slack-style incoming webhook for alerts, on this machine: answers 200 to every POST to /hook."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return httpserver


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


# -- PostgreSQL: a real server started by the tests (tests/pg.py) ---------------------------------------------
def _pg_missing(why: str):
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {why}")
    pytest.skip(f"PostgreSQL unavailable: {why}")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster per test session (per xdist worker)."""
    from tests.pg import PgCluster, PgUnavailable

    try:
        import psycopg  # noqa: F401
    except ImportError:
        _pg_missing("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    try:
        cluster = PgCluster().start()
    except PgUnavailable as error:
        _pg_missing(str(error))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database on each engine: SQLite in tmp_path, then a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def any_campaign_dir(campaign_dir: CampaignDir, db_url: str) -> CampaignDir:
    """`campaign_dir` whose database is `db_url` (both engines)."""
    campaign_dir.env["CAMPAIGN_DATABASE_URL"] = db_url
    return campaign_dir


@pytest.fixture
def pg_campaign_dir(campaign_dir: CampaignDir, pg_url: str) -> CampaignDir:
    """`campaign_dir` on a real PostgreSQL database."""
    campaign_dir.env["CAMPAIGN_DATABASE_URL"] = pg_url
    return campaign_dir


# -- real headless Chromium (Debian's, driven by Playwright) for the browser tests -------------------------
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium with the flags the product launches it with; skipped locally without it, a failure
    in CI (where .ci/run must have installed it)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + " — the CI script must install it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    from campaign.preflight.screenshots import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# -- TLS for the SMTP tests ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1 (cert.pem doubles as the CA file)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem"
