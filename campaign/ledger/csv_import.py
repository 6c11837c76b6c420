"""Subscriber list management: CSV import, normalisation, de-duplication.

Import policy (what listmonk and Mailchimp do, made strict where it matters):
- the file as a whole must be readable CSV with one header row naming `email` once, or nothing is imported
  and the command exits 2 naming the file and line: not a regular file (a directory, a device), larger than
  `MAX_FILE_BYTES`, not UTF-8 (the line of the first bad byte), a repeated column, an unknown column, a
  quote left open (the line where it opens), a cell over `MAX_CELL_CHARS` characters, more than `MAX_ROWS`
  rows;
- each bad row is reported with its line number and reason and skipped; the valid rows are imported in
  one transaction (`--strict`: any bad row and nothing is imported);
- addresses follow `campaign.ledger.addresses`: syntax-checked (no DNS), normalised (NFC, lower case, the
  domain in Unicode form — IDNA goes on the wire), de-duplicated; a non-ASCII local part only when the
  transport can deliver it (`utf8_local`), otherwise the row is rejected with the reason;
- display names are cleaned by `addresses.clean_name` (control, separator and format characters never
  reach a header); a name over 200 characters rejects the row;
- importing again is idempotent, and never re-subscribes an unsubscribed, bounced or complained address;
- an optional `joined_at` column (ISO 8601, with an offset or `Z`; a time without one is UTC) keeps a reader's
  place when a list moves from another tool: the series owes them what a subscriber who confirmed at that
  moment is owed. In the future it is a pre-registration (they join then); before the series, from day 1.
  It applies to new subscribers only: an existing reader's place is never moved by an import;
- the header is checked in one pass, and a header wider than `MAX_COLUMNS` is refused before anything else;
- an address erased at the reader's request (its keyed hash is on record, ledger/privacy.py) is reported with
  its line and never imported: only the reader's own confirmed sign-up brings it back.
"""

from __future__ import annotations

import csv
import io
import stat
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from campaign.clock import utcnow, zone_of
from campaign.errors import ImportError_, Problem
from campaign.ledger.addresses import clean_name, normalise_email
from campaign.ledger.privacy import address_hash
from campaign.ledger.schema import subscribers
from campaign.ledger.states import ACTIVE, SUPPRESSED
from campaign.ledger.store import Store

__all__ = ["COLUMNS", "ImportReport", "Row", "import_subscribers", "normalise_email", "read_csv"]

COLUMNS = ("email", "name", "country", "timezone", "joined_at")
MAX_COLUMNS = 64  # no real subscriber list is wider; a million-column header is refused at once
COUNTRY_ALIASES = {"UK": "GB"}
MAX_FILE_BYTES = 200 * 1024 * 1024  # ~2 million subscribers with names; split a larger list
MAX_CELL_CHARS = 128 * 1024
MAX_ROWS = 2_000_000
SAVE_AS = "save the file as CSV UTF-8 (Excel: File → Save As → CSV UTF-8)"


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str | None
    country: str | None
    timezone: str | None
    joined_at: datetime | None = None


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_suppressed: int = 0  # in the file, but unsubscribed/bounced/complained here: left alone
    duplicates: int = 0  # repeated in the file (case-insensitively): first one kept
    rejected: list[Problem] = field(default_factory=list)


def normalise_country(raw: str | None) -> str | None:
    value = (raw or "").strip().upper()
    if not value:
        return None
    value = COUNTRY_ALIASES.get(value, value)
    if len(value) != 2 or not value.isalpha() or not value.isascii():
        raise ValueError(f"country {raw!r} is not a two-letter ISO code (e.g. US, GB, AU)")
    return value


def normalise_timezone(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if zone_of(value) is None:
        raise ValueError(f"timezone {raw!r} is not an IANA time zone (e.g. America/Chicago)")
    return value


def parse_joined_at(raw: str | None) -> datetime | None:
    """ISO 8601 (`2027-09-14T18:30:00+02:00`, `…Z`, `2027-09-14 18:30`, `2027-09-14`) → an aware UTC datetime;
    a value without an offset is UTC. ValueError naming the value otherwise."""
    value = (raw or "").strip()
    if not value:
        return None
    try:
        if len(value) > 40:
            raise ValueError(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"joined_at {value[:40]!r} is not an ISO 8601 date and time (e.g. 2027-09-14T18:30:00+02:00 or "
            "2027-09-14T16:30:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"joined_at {value!r} is out of range") from None


def _refuse(name: str, line: int | None, field_: str, message: str, fix: str) -> ImportError_:
    return ImportError_(Problem(name, line, field_, message, fix))


def read_text(path: Path) -> str:
    """The file's text, or an ImportError_ saying why it cannot be read as a subscriber list."""
    name = path.name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _refuse(str(path), None, "", "file not found", "check the path") from None
    except OSError as err:
        raise _refuse(str(path), None, "", f"cannot read it ({err.strerror or err})", "check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(str(path), None, "", "is a folder, not a CSV file", "name the .csv file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(str(path), None, "", "is not a regular file (a device, pipe or socket)", "export a .csv file")
    if info.st_size > MAX_FILE_BYTES:
        raise _refuse(
            name,
            None,
            "",
            f"is {info.st_size / 1e6:.0f} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit",
            "split the list into several files and import each",
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise _refuse(str(path), None, "", f"cannot read it ({err.strerror or err})", "check its permissions") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _refuse(name, None, "", "grew past the size limit while being read", "import a finished export")
    try:
        return raw.decode("utf-8-sig")  # utf-8-sig drops the BOM Excel writes
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise _refuse(name, line, "", f"not UTF-8 text (byte {err.start}: 0x{raw[err.start]:02x})", SAVE_AS) from None


def _records(text: str, name: str):
    """(first line, cells) of every CSV record; ImportError_ for a quote left open or an oversized cell."""
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            message = str(err)
            if "field larger than field limit" in message:
                raise _refuse(
                    name,
                    start,
                    "",
                    f"a cell is longer than {MAX_CELL_CHARS // 1024} K characters (a quote left open?)",
                    "check the quotes on that line; no subscriber field is that long",
                ) from None
            if "unexpected end of data" in message or "EOF" in message:
                raise _refuse(
                    name, start, "", 'a quote (") opened on this line is never closed', "close the quote or remove it"
                ) from None
            raise _refuse(name, reader.line_num or start, "", f"not valid CSV ({message})", SAVE_AS) from None
        yield start, cells
        start = reader.line_num + 1


def read_csv(path: Path, *, utf8_local: bool = False) -> tuple[list[Row], ImportReport]:
    """Parse and check the file (nothing is written). `utf8_local`: whether the configured transport can deliver
    non-ASCII local parts (see `campaign.ledger.addresses`)."""
    name = path.name
    records = _records(read_text(path), name)
    first = next(records, None)
    if first is not None and len(first[1]) > MAX_COLUMNS:
        raise _refuse(
            name,
            first[0],
            "",
            f"the header row has {len(first[1]):,} columns, more than any subscriber list ({MAX_COLUMNS})",
            f"keep only the columns {', '.join(COLUMNS)} (is this the right file?)",
        )
    header = [h.strip().lower() for h in (first[1] if first else [])]
    if "email" not in header:
        raise _refuse(
            name,
            1,
            "email",
            "no 'email' column in the header row",
            "add a header row whose columns include email (optional: name, country, timezone, joined_at)",
        )
    counts = Counter(h for h in header if h)  # one pass: `header.count(h)` per column was quadratic
    repeated = sorted(h for h, n in counts.items() if n > 1)
    if repeated:
        raise _refuse(
            name, 1, repeated[0], f"column(s) named twice: {', '.join(repeated)}", "keep one column of each name"
        )
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise _refuse(name, 1, unknown[0], f"unknown column(s): {', '.join(unknown)}", f"use only {', '.join(COLUMNS)}")
    report = ImportReport()
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for count, (line, cells) in enumerate(records, start=1):
        if count > MAX_ROWS:
            raise _refuse(name, line, "", f"more than {MAX_ROWS:,} rows", "split the list into several files")
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) > len(header):
            report.rejected.append(
                Problem(name, line, "", "more cells than columns in the header", "quote values that contain commas")
            )
            continue
        values = {h: c.strip() for h, c in zip(header, cells, strict=False) if h}
        field_ = "email"
        try:
            if not values.get("email"):
                raise ValueError("the email cell is empty")
            email = normalise_email(values["email"], utf8_local=utf8_local)
            field_ = "name"
            person = clean_name(values.get("name"))
            field_ = "country"
            country = normalise_country(values.get("country"))
            field_ = "timezone"
            tz = normalise_timezone(values.get("timezone"))
            field_ = "joined_at"
            joined = parse_joined_at(values.get("joined_at"))
        except ValueError as err:
            report.rejected.append(Problem(name, line, field_, str(err), "fix or remove the row"))
            continue
        if email in seen:
            report.duplicates += 1
            continue
        seen[email] = line
        rows.append(Row(line, email, person, country, tz, joined))
    return rows, report


def _without_erased(store: Store, rows: list[Row], report: ImportReport, key: str, name: str) -> list[Row]:
    erased = store.all_erased_hashes()
    if not erased:
        return rows
    kept = []
    for row in rows:
        if address_hash(key, row.email) in erased:
            report.rejected.append(
                Problem(
                    name,
                    row.line,
                    "email",
                    "this address was erased at the reader's request and is never imported again",
                    "remove the row; the reader can come back only by signing up on the web form and confirming",
                )
            )
        else:
            kept.append(row)
    return kept


def import_subscribers(
    store: Store,
    path: Path,
    *,
    strict: bool = False,
    now: datetime | None = None,
    utf8_local: bool = False,
    erased_key: str | None = None,
) -> ImportReport:
    """`erased_key` (CAMPAIGN_SECRET_KEY): check each address against the erased ones' keyed hashes."""
    rows, report = read_csv(path, utf8_local=utf8_local)
    if erased_key is not None:
        rows = _without_erased(store, rows, report, erased_key, path.name)
    if strict and report.rejected:
        raise ImportError_(report.rejected)
    now = now or utcnow()
    with store.begin() as conn:  # one transaction: all valid rows or none
        existing = {}
        emails = [r.email for r in rows]
        for start in range(0, len(emails), 500):
            chunk = emails[start : start + 500]
            for row in conn.execute(select(subscribers).where(subscribers.c.email.in_(chunk))):
                existing[row.email] = row
        new_rows = []
        for r in rows:
            old = existing.get(r.email)
            if old is None:
                new_rows.append(
                    {
                        "email": r.email,
                        "name": r.name,
                        "country": r.country,
                        "timezone": r.timezone,
                        "status": ACTIVE,
                        "joined_at": r.joined_at or now,
                        "status_changed_at": now,
                        "source": "import",
                    }
                )
                continue
            if old.status in SUPPRESSED:
                report.kept_suppressed += 1
                continue
            changes = {
                k: v
                for k, v in (("name", r.name), ("country", r.country), ("timezone", r.timezone))
                if v is not None and getattr(old, k) != v
            }
            if changes:
                conn.execute(update(subscribers).where(subscribers.c.id == old.id).values(**changes))
                report.updated += 1
            else:
                report.unchanged += 1
        if new_rows:
            conn.execute(subscribers.insert(), new_rows)
        report.added = len(new_rows)
    return report
