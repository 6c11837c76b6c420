"""Helpers for the scheduler tests: run the real SeriesScheduler on a controlled clock, read the outbox."""

from __future__ import annotations

import email
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from campaign.clock import Clock
from campaign.ledger.csv_import import import_subscribers
from campaign.ledger.schema import deliveries, subscribers
from campaign.timing.scheduler import SeriesScheduler
from tests.conftest import wait_until  # noqa: F401  (re-exported for the scheduler tests)

NY = ZoneInfo("America/New_York")
AKL = ZoneInfo("Pacific/Auckland")
UTC = UTC


def at_ny(text: str) -> datetime:
    """'2027-09-01 09:00' in New York, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=NY)


def import_people(cdir, rows: list[dict]) -> None:
    path = cdir.write_csv(rows, name=f"import-{time.monotonic_ns()}.csv")
    store = cdir.store()
    try:
        report = import_subscribers(store, path)
        assert not report.rejected, report.rejected
    finally:
        store.close()


def set_joined_at(cdir, email_: str, when: datetime) -> None:
    store = cdir.store()
    try:
        with store.engine.begin() as conn:
            conn.execute(
                update(subscribers).where(subscribers.c.email == email_).values(joined_at=when.astimezone(UTC))
            )
    finally:
        store.close()


def ledger(cdir, day: date | None = None) -> list:
    """(day, email, status) rows of the ledger. Queued rows are left out: they are owed, as if there were no
    row (a send stopped by a signal leaves the rest of its day in the queue)."""
    store = cdir.store()
    try:
        query = (
            select(deliveries.c.day, subscribers.c.email, deliveries.c.status)
            .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.status != "queued")
            .order_by(deliveries.c.day, subscribers.c.email)
        )
        if day is not None:
            query = query.where(deliveries.c.day == day)
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]
    finally:
        store.close()


def emls(cdir, day: str) -> list[Path]:
    folder = cdir.outbox / day
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def message(path: Path) -> email.message.Message:
    return email.message_from_bytes(path.read_bytes())


def date_header(path: Path) -> datetime:
    return parsedate_to_datetime(message(path)["Date"])


def recipients(cdir, day: str) -> dict[str, datetime]:
    """To address → Date header, for every message filed under `day`."""
    out = {}
    for path in emls(cdir, day):
        msg = message(path)
        addr = email.utils.parseaddr(msg["To"])[1]
        assert addr not in out, f"{addr} got {day} twice"
        out[addr] = parsedate_to_datetime(msg["Date"])
    return out


def plain_text(path: Path) -> str:
    msg = message(path)
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode("utf-8")
    raise AssertionError(f"{path} has no text part")


@contextmanager
def running(cdir, clock: Clock, *, until: str = "stopped", timeout: float = 30.0):
    """Run the real scheduler in a thread on `clock`; stop it (as SIGTERM would) when the block ends."""
    stop = threading.Event()
    announced: list[str] = []
    store = cdir.store()
    scheduler = SeriesScheduler(
        cdir.settings, store, clock=clock, stop=stop, announce=announced.append, poll_seconds=0.05
    )
    scheduler.announced = announced
    errors: list[BaseException] = []

    def target():
        try:
            clock.restart()  # simulated time starts when the scheduler does (loading the inputs takes a moment)
            scheduler.run(until)
        except BaseException as err:  # surfaced in the test thread
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield scheduler
    finally:
        stop.set()
        thread.join(timeout)
        store.close()
    assert not thread.is_alive(), "the scheduler did not stop"
    if errors:
        raise errors[0]


def run_once(cdir, clock: Clock):
    """`campaign run --once` in-process: send what is due on `clock`, then return the scheduler."""
    store = cdir.store()
    announced: list[str] = []
    try:
        scheduler = SeriesScheduler(cdir.settings, store, clock=clock, announce=announced.append, poll_seconds=0.05)
        scheduler.announced = announced
        scheduler.run("due")
        return scheduler
    finally:
        store.close()


def article_paragraphs(cdir) -> list[str]:
    """The article's paragraphs as a text part prints them (the first 60 characters of each, one line)."""
    text = (cdir.root / "content" / "article.md").read_text(encoding="utf-8").split("---", 2)[2]
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        if block and block[0].isalpha() and not block.startswith("<!--"):
            out.append(block[:60])
    return out
