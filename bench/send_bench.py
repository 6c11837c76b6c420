"""Send benchmark (not a test): recipients per second and peak RSS of a real `Sender` sending day 1 of the
series to 10k, 100k and 1M subscribers through a local fake provider, for per-message payloads (Postmark)
and merge payloads (SendGrid).

    .venv/bin/python bench/send_bench.py                        # everything, writes bench/RESULTS.md
    .venv/bin/python bench/send_bench.py --sizes 10000 --providers sendgrid --no-write

Each run is a fresh process (the same code path as `campaign send 1`: real SQLite ledger, real rendering,
real HTTP over loopback, the provider's default concurrency), timed around `send_day` only; peak RSS is that
process's ru_maxrss. The fake provider runs in its own process and does as little as the contract allows
(checks the key, counts the items, answers Postmark's per-item array or SendGrid's 202), so that on a 2-core
machine it leaves the second core to the sender: we measure our code, not a JSON parser in the fake. The
contract tests (tests/provider_servers.py) parse everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
TARGETS = {"postmark": 10_000, "sendgrid": 50_000}  # recipients per second on a 2-core machine


# -- the fake provider (its own process) -------------------------------------------------------------------
class LeanProvider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    provider = "postmark"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.provider == "postmark":
            if self.headers.get("X-Postmark-Server-Token") != KEY:
                return self._answer(401, b'{"ErrorCode":10,"Message":"bad token"}')
            n = body.count(b'"MessageStream":')
            item = b'{"ErrorCode":0,"Message":"OK","MessageID":"00000000-0000-0000-0000-000000000000"}'
            return self._answer(200, b"[" + b",".join([item] * n) + b"]")
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._answer(401, b'{"errors":[{"message":"bad key"}]}')
        return self._answer(202, b"", {"X-Message-Id": "bench-message-id"})

    def _answer(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def serve(provider: str) -> None:
    LeanProvider.provider = provider
    server = ThreadingHTTPServer(("127.0.0.1", 0), LeanProvider)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# -- the sender (its own process) ------------------------------------------------------------------------
def send(provider: str, folder: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import psutil

    from campaign.config import load_settings
    from campaign.delivery.sender import Sender
    from campaign.ledger.store import Store
    from campaign.providers import make_provider
    from campaign.series.project import load_project

    settings = load_settings(folder, dict(os.environ))
    project = load_project(settings)
    store = Store.open(settings.database_url)
    sender = Sender(project, store, make_provider(provider, settings, project.schedule.campaign))
    day = project.schedule.dates[0]
    rss_before = psutil.Process().memory_info().rss
    started, cpu = time.perf_counter(), time.process_time()
    report = sender.send_day(day)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "sent": report.sent,
                "failed": report.failed,
                "seconds": seconds,
                "cpu": cpu,
                "concurrency": sender.concurrency,
                "rss_before_mb": rss_before / 2**20,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


# -- the driver ---------------------------------------------------------------------------------------
def seed(path: Path, n: int) -> None:
    """n active subscribers, one executemany in one transaction (the schema comes from the store)."""
    sys.path.insert(0, str(ROOT))
    from campaign.ledger.store import Store

    Store.open(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO subscribers (email, name, country, timezone, status, joined_at, source) "
            "VALUES (?, ?, NULL, NULL, 'active', '2026-01-01 00:00:00.000000', 'import')",
            ((f"reader{i:07d}@example.org", f"Reader {i}") for i in range(1, n + 1)),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def campaign_folder(where: Path) -> Path:
    where.mkdir(parents=True)
    for name in ("content", "templates"):
        shutil.copytree(ROOT / name, where / name)
    schedule = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    marker = "\n  default_country:"
    assert marker in schedule, "schedule.yaml changed: update the benchmark's rate_limit line"
    # No throttling: we measure how fast we can go, not a provider's limit.
    (where / "schedule.yaml").write_text(
        schedule.replace(marker, "\n  rate_limit: 100000000" + marker, 1), encoding="utf-8"
    )
    return where


def run_one(provider: str, n: int, seeded: Path, work: Path) -> dict:
    folder = campaign_folder(work / f"{provider}-{n}")
    shutil.copy(seeded, folder / "campaign.db")
    server = subprocess.Popen([sys.executable, __file__, "--serve", provider], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_", "POSTMARK_", "SENDGRID_"))}
        env.update(
            {
                "CAMPAIGN_DATABASE_URL": f"sqlite:///{folder / 'campaign.db'}",
                "CAMPAIGN_PUBLIC_URL": "https://news.example.org",
                "CAMPAIGN_SECRET_KEY": "bench-secret-key-long-enough-for-real-providers",
                "POSTMARK_SERVER_TOKEN": KEY,
                "POSTMARK_API_URL": f"http://127.0.0.1:{port}",
                "SENDGRID_API_KEY": KEY,
                "SENDGRID_API_URL": f"http://127.0.0.1:{port}",
            }
        )
        result = subprocess.run(
            [sys.executable, __file__, "--send", provider, str(folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if result.returncode != 0:
            raise SystemExit(f"{provider} {n}: the sender failed:\n{result.stderr}")
        measured = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    if measured["sent"] != n:
        raise SystemExit(f"{provider} {n}: sent {measured['sent']} of {n}")
    return {"provider": provider, "subscribers": n, **measured, "per_second": n / measured["seconds"]}


def machine() -> dict:
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": sh("nproc"),
        "free": sh("free -h"),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def report(results: list[dict], info: dict) -> str:
    lines = [
        "| provider | payload | subscribers | seconds | recipients/s | target | CPU s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        kind = "per-message" if r["provider"] == "postmark" else "merge"
        lines.append(
            f"| {r['provider']} | {kind} | {r['subscribers']:,} | {r['seconds']:.1f} | "
            f"{r['per_second']:,.0f} | {TARGETS[r['provider']]:,} | {r['cpu']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + (
        f"\n\nMachine: {info['nproc']} CPU(s), {info['cpu']}, Python {info['python']}, "
        f"SQLite {info['sqlite']}, {info['platform']}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--providers", default="postmark,sendgrid")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--send", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.send:
        return send(args.send[0], Path(args.send[1]))
    sizes = [int(s) for s in args.sizes.split(",")]
    providers = args.providers.split(",")
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        work = Path(tmp)
        for n in sizes:
            seeded = work / f"seed-{n}.db"
            started = time.perf_counter()
            seed(seeded, n)
            print(f"seeded {n:,} subscribers in {time.perf_counter() - started:.1f} s", flush=True)
            for provider in providers:
                r = run_one(provider, n, seeded, work)
                results.append(r)
                print(
                    f"{provider:9} {n:>9,}: {r['per_second']:>8,.0f} recipients/s  ({r['seconds']:.1f} s, "
                    f"CPU {r['cpu']:.1f} s, concurrency {r['concurrency']}), peak RSS {r['peak_rss_mb']:.0f} MB "
                    f"(before the send {r['rss_before_mb']:.0f} MB)",
                    flush=True,
                )
            seeded.unlink()
    print()
    print(report(results, info))
    if args.json:
        args.json.write_text(
            json.dumps({"when": datetime.now(UTC).isoformat(), "machine": info, "results": results}, indent=2),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
