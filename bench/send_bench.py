"""Send benchmark (not a test): recipients per second, peak RSS per process and database time per recipient
of real senders sending day 1 of the series to 100k and 1M subscribers through a local fake provider, for
per-message payloads (Postmark) and merge payloads (SendGrid), on SQLite with one worker and on PostgreSQL
with 1, 2 and 4 workers.

    .venv/bin/python bench/send_bench.py                        # everything (make bench)
    .venv/bin/python bench/send_bench.py --sizes 100000 --providers sendgrid --configs postgresql:2

Each configuration is the code path of `campaign send 1 --workers N`: one process starts the send (expire,
archive, enqueue the day in one statement), then N worker processes (`campaign worker --once`) claim
batches from the queue, send them through real rendering and real HTTP over loopback with the provider's
default concurrency, and record them. Time = the start + first worker start to last worker end (process
start-up excluded); CPU = the workers' CPU; DB µs/recipient = client-side time inside the database driver's
execute (round trip included, commits excluded) summed over every process, per recipient. PostgreSQL is a
throw-away local cluster (tests/pg.py: fsync and synchronous_commit off). The fake provider runs in its own
process and does as little as the contract allows (checks the key, counts the items, answers Postmark's
per-item array or SendGrid's 202), so that on a 2-core machine it leaves CPU to the senders: we measure our
code, not a JSON parser in the fake. The contract tests (tests/provider_servers.py) parse everything.
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
TARGETS = {"postmark": 12_000, "sendgrid": 30_000}  # recipients per second on a 2-core machine (issue 11)


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


# -- the sender (its own processes) ---------------------------------------------------------------------
def _open(provider: str, folder: Path):
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event

    from campaign.config import load_settings
    from campaign.delivery.sender import Sender
    from campaign.ledger.store import Store
    from campaign.providers import make_provider
    from campaign.series.project import load_project

    settings = load_settings(folder, dict(os.environ))
    project = load_project(settings)
    store = Store.open(settings.database_url)
    db = {"seconds": 0.0}
    started: dict[int, float] = {}

    @event.listens_for(store.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(store.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        db["seconds"] += time.perf_counter() - started.pop(id(cursor), time.perf_counter())

    sender = Sender(project, store, make_provider(provider, settings, project.schedule.campaign))
    return sender, project.schedule.dates[0], db


def start(provider: str, folder: Path) -> None:
    """The start of a send (expire, archive, enqueue), timed, in its own process."""
    sender, day, db = _open(provider, folder)
    began = time.perf_counter()
    owed = sender.start_day(day)
    print(json.dumps({"owed": owed, "seconds": time.perf_counter() - began, "db_seconds": db["seconds"]}))


def work(provider: str, folder: Path) -> None:
    """One worker: sends what is queued (`campaign worker --once`), timed around `send_day` only."""
    import psutil

    sender, day, db = _open(provider, folder)
    rss_before = psutil.Process().memory_info().rss
    began, cpu, wall = time.perf_counter(), time.process_time(), time.time()
    report = sender.send_day(day, enqueue=False)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        json.dumps(
            {
                "sent": report.sent,
                "failed": report.failed,
                "began": wall,
                "ended": wall + seconds,
                "seconds": seconds,
                "cpu": cpu,
                "db_seconds": db["seconds"],
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


def seed_pg(url: str, n: int) -> None:
    """The same subscribers on PostgreSQL, in one statement (not analysed: stale statistics, as after an import)."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from campaign.ledger.store import Store

    store = Store.open(url)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, name, status, joined_at, source) "
                "SELECT 'reader' || lpad(i::text, 7, '0') || '@example.org', 'Reader ' || i, 'active', "
                "TIMESTAMP '2026-01-01', 'import' FROM generate_series(1, :n) AS i"
            ),
            {"n": n},
        )
    store.close()


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


def _json(process: subprocess.Popen, what: str) -> dict:
    out, err = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise SystemExit(f"{what}: failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def run_one(provider: str, n: int, engine: str, workers: int, database: str, work_dir: Path) -> dict:
    """database: the seeded SQLite file to copy, or an empty-but-seeded PostgreSQL URL."""
    folder = campaign_folder(work_dir / f"{provider}-{engine}-{workers}-{n}")
    if engine == "sqlite":
        shutil.copy(database, folder / "campaign.db")
        url = f"sqlite:///{folder / 'campaign.db'}"
    else:
        url = database
    server = subprocess.Popen([sys.executable, __file__, "--serve", provider], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGN_", "POSTMARK_", "SENDGRID_"))}
        env.update(
            {
                "CAMPAIGN_DATABASE_URL": url,
                "CAMPAIGN_PUBLIC_URL": "https://news.example.org",
                "CAMPAIGN_SECRET_KEY": "bench-secret-key-long-enough-for-real-providers",
                "POSTMARK_SERVER_TOKEN": KEY,
                "POSTMARK_API_URL": f"http://127.0.0.1:{port}",
                "SENDGRID_API_KEY": KEY,
                "SENDGRID_API_URL": f"http://127.0.0.1:{port}",
            }
        )

        def spawn(mode: str) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, __file__, f"--{mode}", provider, str(folder)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        started = _json(spawn("start"), f"{provider} {n} start")
        runs = [_json(p, f"{provider} {n} worker") for p in [spawn("work") for _ in range(workers)]]
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    sent = sum(r["sent"] for r in runs)
    if sent != n:
        raise SystemExit(f"{provider} {n} {engine} x{workers}: sent {sent} of {n}")
    seconds = started["seconds"] + max(r["ended"] for r in runs) - min(r["began"] for r in runs)
    db_seconds = started["db_seconds"] + sum(r["db_seconds"] for r in runs)
    return {
        "provider": provider,
        "engine": engine,
        "workers": workers,
        "subscribers": n,
        "seconds": seconds,
        "enqueue_seconds": started["seconds"],
        "cpu": sum(r["cpu"] for r in runs),
        "db_us_per_recipient": db_seconds / n * 1e6,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "per_worker_sent": [r["sent"] for r in runs],
        "per_second": n / seconds,
    }


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
        "| provider | payload | engine | workers | subscribers | seconds | recipients/s | target | CPU s "
        "| DB µs/recipient | peak RSS MB/process |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        kind = "per-message" if r["provider"] == "postmark" else "merge"
        lines.append(
            f"| {r['provider']} | {kind} | {r['engine']} | {r['workers']} | {r['subscribers']:,} | {r['seconds']:.1f} | "
            f"{r['per_second']:,.0f} | {TARGETS[r['provider']]:,} | {r['cpu']:.1f} | {r['db_us_per_recipient']:.0f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + (
        f"\n\nMachine: {info['nproc']} CPU(s), {info['cpu']}, Python {info['python']}, "
        f"SQLite {info['sqlite']}, {info['platform']}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--providers", default="postmark,sendgrid")
    parser.add_argument("--configs", default="sqlite:1,postgresql:1,postgresql:2,postgresql:4", help="engine:workers,…")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--start", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--work", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.start:
        return start(args.start[0], Path(args.start[1]))
    if args.work:
        return work(args.work[0], Path(args.work[1]))
    sizes = [int(s) for s in args.sizes.split(",")]
    providers = args.providers.split(",")
    configs = [(engine, int(w)) for engine, w in (c.split(":") for c in args.configs.split(","))]
    info = machine()
    results = []
    cluster = None
    if any(engine == "postgresql" for engine, _ in configs):
        sys.path.insert(0, str(ROOT))
        from tests.pg import PgCluster  # a throw-away cluster: fsync and synchronous_commit off

        cluster = PgCluster().start()
    try:
        with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
            work_dir = Path(tmp)
            for n in sizes:
                seeded = work_dir / f"seed-{n}.db"
                seed(seeded, n)
                for engine, workers in configs:
                    for provider in providers:
                        database = str(seeded)
                        if engine == "postgresql":
                            assert cluster is not None
                            database = cluster.new_database()
                            seed_pg(database, n)
                        r = run_one(provider, n, engine, workers, database, work_dir)
                        results.append(r)
                        print(
                            f"{provider:9} {engine:10} x{workers} {n:>9,}: {r['per_second']:>8,.0f} recipients/s "
                            f"({r['seconds']:.1f} s, enqueue {r['enqueue_seconds']:.1f} s, CPU {r['cpu']:.1f} s, "
                            f"DB {r['db_us_per_recipient']:.0f} µs/recipient), peak RSS {r['peak_rss_mb']:.0f} MB, "
                            f"per worker {r['per_worker_sent']}",
                            flush=True,
                        )
                seeded.unlink()
    finally:
        if cluster is not None:
            cluster.stop()
    print()
    print(report(results, info))
    if args.json:
        args.json.write_text(
            json.dumps({"when": datetime.now(UTC).isoformat(), "machine": info, "results": results}, indent=2),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
