"""A token bucket in the database, shared by every worker of a send (on any host).

One row per limiter (`rate_limits`: name, tokens, stamp). `take(name, n, rate, burst)` is ONE
`UPDATE … RETURNING`: refill by the time passed since `stamp` (the database's clock, so hosts need not
agree on the time), cap at `burst`, take n — possibly into debt — and return the balance; the caller waits
off a debt at `rate`, as the per-process `TokenBucket` does.
"""

from __future__ import annotations

from sqlalchemy import Float, String, bindparam, text

from campaign.ledger.schema import Tables, rate_limits


class RateLimits(Tables):
    def _now_sql(self) -> str:
        if self.engine.dialect.name == "postgresql":
            return "EXTRACT(EPOCH FROM clock_timestamp())"
        return "((julianday('now') - 2440587.5) * 86400.0)"

    def take_tokens(self, name: str, n: float, *, rate: float, burst: float) -> float:
        """Take n tokens from limiter `name`; returns the seconds to wait before using them (0: none)."""
        now = self._now_sql()
        least = "LEAST" if self.engine.dialect.name == "postgresql" else "min"
        statement = text(
            f"UPDATE rate_limits SET tokens = {least}(:burst, tokens + ({now} - stamp) * :rate) - :n, "
            f"stamp = {now} WHERE name = :name RETURNING tokens"
        ).bindparams(
            bindparam("name", type_=String),
            bindparam("n", type_=Float),
            bindparam("rate", type_=Float),
            bindparam("burst", type_=Float),
        )
        params = {"name": name, "n": float(n), "rate": float(rate), "burst": float(burst)}
        with self.engine.begin() as conn:
            tokens = conn.execute(statement, params).scalar()
            if tokens is None:  # first use: a full bucket, then take
                create = self.insert(rate_limits).values(name=name, tokens=float(burst), stamp=0.0)
                conn.execute(create.on_conflict_do_nothing())
                conn.execute(text(f"UPDATE rate_limits SET stamp = {now} WHERE name = :name AND stamp = 0"), params)
                tokens = conn.execute(statement, params).scalar()
        return -float(tokens) / rate if tokens is not None and tokens < 0 else 0.0

    def reset_tokens(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(rate_limits.delete().where(rate_limits.c.name == name))
