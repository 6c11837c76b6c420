"""A full disk or a failing database, described in one line that names the cause and the fix.

A command stopped by one prints that line (exit 1, no traceback) and raises an alert; the database
transaction it was in rolls back, so nothing is half-written. Errors are recognised by their class names and
messages, through the whole cause chain (SQLAlchemy wraps sqlite3 and psycopg errors; the outbox raises OSError).
"""

from __future__ import annotations

import errno

_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk quota exceeded")
_READ_ONLY = ("attempt to write a readonly database", "read-only file system", "readonly database")
_IO = ("disk i/o error",)
_GONE = ("unable to open database file", "connection refused", "could not connect to server", "server closed")
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def _chain(error: BaseException):
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def storage_failure(error: BaseException) -> str | None:
    """One line naming what failed and how to fix it, or None when `error` is not a storage failure."""
    database = any(type(e).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg") for e in _chain(error))
    for e in _chain(error):
        text = str(e).lower()
        if (isinstance(e, OSError) and e.errno in _NO_SPACE) or any(s in text for s in _DISK_FULL):
            return (
                "the disk holding the database (or the outbox) is full — nothing was half-written; free space "
                "or move CAMPAIGN_DATABASE_URL to a larger disk, then run the command again"
            )
        if (isinstance(e, OSError) and e.errno == errno.EROFS) or any(s in text for s in _READ_ONLY):
            return "the database is read-only — check the file's permissions and the mount, then run the command again"
        if database and any(s in text for s in _IO):
            return "the disk holding the database reported an I/O error — check the disk (dmesg), then run it again"
        if database and any(s in text for s in _GONE):
            return "the database cannot be reached — check CAMPAIGN_DATABASE_URL and that the server runs"
    if database and type(error).__name__ in ("OperationalError", "DatabaseError", "InterfaceError"):
        return f"the database failed ({type(error).__name__}) — check CAMPAIGN_DATABASE_URL and the server's log"
    return None


def disk_problem(error: BaseException) -> str | None:
    """Like `storage_failure`, but only for the disk itself (full, read-only, I/O error): not a wrong URL."""
    line = storage_failure(error)
    return line if line and line.startswith(("the disk", "the database is read-only")) else None
