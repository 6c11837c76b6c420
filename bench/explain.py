"""EXPLAIN of every hot query of a send on a large PostgreSQL ledger, written to bench/EXPLAIN.md.

    .venv/bin/python bench/explain.py                      # 1M subscribers, a throw-away cluster (tests/pg.py)
    .venv/bin/python bench/explain.py --subscribers 100000 --url postgresql+psycopg://… --out -

The subscribers are inserted in one statement and NOT analysed (day 1 right after an import: the statistics
are stale — the case that gave the old owed-page anti-join its quadratic plans). Then the real `Store`
methods run — enqueue, claim, renew, record (one outcome; per-message ids), expire, release — and each SQL
statement they send is first run under `EXPLAIN (ANALYZE, BUFFERS)` inside a savepoint that is rolled back,
so the plans are the ones PostgreSQL chose for the real statement with real parameters.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = date(2027, 9, 1)
SCANS = re.compile(
    r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan|Function Scan)( using \w+)?( on \w+)?"
)


def seed(store, n: int) -> None:
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, name, country, status, joined_at, source) "
                "SELECT 'reader' || i || '@example.org', 'Reader ' || i, "
                "CASE WHEN i % 10 = 0 THEN 'GB' WHEN i % 10 = 1 THEN 'FR' ELSE 'US' END, "
                "CASE WHEN i % 50 = 0 THEN 'unsubscribed' ELSE 'active' END, TIMESTAMP '2026-01-01', 'import' "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": n},
        )


def explain_all(url: str, n: int) -> list[tuple[str, str, str, float]]:
    from sqlalchemy import event

    from campaign.clock import utcnow
    from campaign.ledger.queue import Variants
    from campaign.ledger.states import SENT
    from campaign.ledger.store import Store

    store = Store.open(url)
    seed(store, n)
    label: list[str | None] = [None]
    found: list[tuple[str, str, str, float]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def explain(conn, cursor, statement, parameters, context, executemany):
        if (
            label[0] is None
            or executemany
            or not statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
        ):
            return
        cursor.execute("SAVEPOINT explain")
        started = time.perf_counter()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        seconds = time.perf_counter() - started
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK TO SAVEPOINT explain")
        found.append((label[0], statement, plan, seconds))

    variants = Variants({"US": "US", "GB": "GB"}, "US", "INTL")
    lease = utcnow() + timedelta(minutes=5)
    cutoff = datetime(2027, 9, 1, 9, tzinfo=UTC)
    try:
        label[0] = "enqueue (once per day's send: the one pass over subscribers)"
        store.enqueue(DAY, cutoff, variants, at=cutoff)
        batches = []
        for k, variant in enumerate(("US", "GB", "INTL")):
            label[0] = f"claim ({variant}, 500 rows)"
            store.claim_batch(
                DAY, variant, limit=500, worker_id="bench:1:a", batch_id=f"b{k}", provider="p", lease_until=lease
            )
            batches.append(f"b{k}")
        label[0] = "renew (the heartbeat, 3 batches)"
        store.renew_leases("bench:1:a", batches, lease)
        label[0] = None
        rows = store.claim_batch(
            DAY, "US", limit=500, worker_id="bench:1:a", batch_id="b9", provider="p", lease_until=lease
        )
        label[0] = "record (one outcome for the batch: SendGrid, Mailgun, a failure)"
        store.record_batch(DAY, "b0", {(SENT, "m", None): []}, worker_id="bench:1:a")
        label[0] = "record (per-message ids: Postmark, Resend)"
        store.record_batch(DAY, "b9", {(SENT, f"m-{r.id}", None): [r.id] for r in rows}, worker_id="bench:1:a")
        label[0] = "release (a batch never sent goes back to the queue)"
        store.release(DAY, "b1", worker_id="bench:1:a")
        label[0] = "expire (rows whose worker is gone)"
        store.expire_leases(DAY, now=utcnow() + timedelta(hours=1))
        label[0] = None
        for variant in ("US", "GB", "INTL"):  # drain the queue
            while store.claim_batch(
                DAY,
                variant,
                limit=5000,
                worker_id="bench:1:b",
                batch_id=f"d{time.monotonic_ns()}",
                provider="p",
                lease_until=lease,
            ):
                pass
        label[0] = "drop_inactive (after the queue is drained)"
        store.drop_inactive(DAY)
        label[0] = None
    finally:
        store.close()
    return found


def markdown(found, n: int, seconds: float) -> str:
    import psycopg

    lines = [
        "# EXPLAIN of the hot queries (PostgreSQL)",
        "",
        f"Written by `bench/explain.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {n:,} subscribers inserted in one "
        "statement and not analysed (stale statistics, as right after an import), psycopg "
        f"{psycopg.__version__}, 2 cores. Each plan is `EXPLAIN (ANALYZE, BUFFERS)` of the statement the real `Store` "
        f"method sent, with its parameters, rolled back. Whole run {seconds:.0f} s.",
        "",
        "| query | scans | time ms |",
        "|---|---|---:|",
    ]
    for name, _sql, plan, took in found:
        scans = ", ".join(sorted({"".join(m) for m in SCANS.findall(plan)})) or "—"
        lines.append(f"| {name} | {scans} | {took * 1000:.1f} |")
    lines.append("")
    for name, sql, plan, _took in found:
        lines += [f"## {name}", "", "```sql", sql.strip(), "```", "", "```", plan, "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throw-away cluster)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "EXPLAIN.md"), help="'-' for stdout")
    args = parser.parse_args()
    cluster = None
    url = args.url
    if url is None:
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        url = cluster.new_database()
    started = time.perf_counter()
    try:
        found = explain_all(url, args.subscribers)
    finally:
        if cluster is not None:
            cluster.stop()
    text = markdown(found, args.subscribers, time.perf_counter() - started)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
