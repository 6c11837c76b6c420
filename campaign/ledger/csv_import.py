"""Subscriber list management: CSV import, normalisation, de-duplication.

Import policy (what listmonk and Mailchimp do, made strict where it matters):
- the file as a whole must be readable CSV with an `email` column, or nothing is imported (exit 2);
- each bad row is reported with its line number and reason and skipped; the valid rows are imported in
  one transaction (`--strict`: any bad row and nothing is imported);
- addresses are checked for syntax (no DNS), normalised to lower case and de-duplicated case-insensitively;
- importing again is idempotent, and never re-subscribes an unsubscribed, bounced or complained address.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update

from campaign.clock import utcnow
from campaign.errors import ImportError_, Problem
from campaign.ledger.store import ACTIVE, SUPPRESSED, Store, subscribers

COLUMNS = ("email", "name", "country", "timezone")
COUNTRY_ALIASES = {"UK": "GB"}


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str | None
    country: str | None
    timezone: str | None


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_suppressed: int = 0  # in the file, but unsubscribed/bounced/complained here: left alone
    duplicates: int = 0  # repeated in the file (case-insensitively): first one kept
    rejected: list[Problem] = field(default_factory=list)


def normalise_email(raw: str) -> str:
    """Syntax-checked, lower-cased address; raises ValueError with the reason."""
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as err:
        raise ValueError(str(err)) from None
    return info.normalized.lower()


def normalise_country(raw: str | None) -> str | None:
    value = (raw or "").strip().upper()
    if not value:
        return None
    value = COUNTRY_ALIASES.get(value, value)
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"country {raw!r} is not a two-letter ISO code (e.g. US, GB, AU)")
    return value


def normalise_timezone(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {raw!r} is not an IANA time zone (e.g. America/Chicago)") from None
    return value


def read_csv(path: Path) -> tuple[list[Row], ImportReport]:
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportError_(Problem(str(path), None, "", "file not found", "check the path")) from None
    try:
        text = raw.decode("utf-8-sig")  # utf-8-sig drops the BOM Excel writes
    except UnicodeDecodeError as err:
        raise ImportError_(
            Problem(name, None, "", f"not UTF-8 text (byte {err.start})", "save the file as CSV UTF-8")
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise ImportError_(
            Problem(
                name,
                1,
                "email",
                "no 'email' column in the header row",
                "add a header row whose columns include email (optional: name, country, timezone)",
            )
        )
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise ImportError_(
            Problem(name, 1, unknown[0], f"unknown column(s): {', '.join(unknown)}", f"use only {', '.join(COLUMNS)}")
        )
    reader.fieldnames = header
    report = ImportReport()
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in record.items() if k}
        if not any(values.values()):
            continue  # blank line
        if None in record:  # more cells than header columns
            report.rejected.append(
                Problem(name, line, "", "more cells than columns in the header", "quote values that contain commas")
            )
            continue
        try:
            if not values.get("email"):
                raise ValueError("the email cell is empty")
            email = normalise_email(values["email"])
            country = normalise_country(values.get("country"))
            tz = normalise_timezone(values.get("timezone"))
        except ValueError as err:
            report.rejected.append(
                Problem(
                    name,
                    line,
                    "email" if "email" in str(err).lower() or "@" in str(err) else "",
                    str(err),
                    "fix or remove the row",
                )
            )
            continue
        if email in seen:
            report.duplicates += 1
            continue
        seen[email] = line
        rows.append(Row(line, email, values.get("name") or None, country, tz))
    return rows, report


def import_subscribers(store: Store, path: Path, *, strict: bool = False, now: datetime | None = None) -> ImportReport:
    rows, report = read_csv(path)
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
                        "joined_at": now,
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
