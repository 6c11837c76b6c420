"""Round-trip text edits of the organiser's files (the studio saves through here).

`set_day_fields` changes a day's subject, preheader and note in schedule.yaml's *text* with ruamel.yaml's
round-trip mode: comments, blank lines, key order and each value's quoting are kept, so `git diff` shows only
the lines that changed. A new key is written in double quotes (the file's own rule); a comment that followed
the day's last key stays after the day's last key. Nothing here validates: the caller checks the new text with
the same code as `campaign validate` before `write_if_unchanged` puts it on disk.

`write_if_unchanged` is the one write: atomic (a temporary file in the same folder, fsync, rename), and
guarded by the ETag of the text the editor loaded — a file changed on disk since is an `EditConflict`, never an
overwrite. Writers in this process and other processes using it are serialised by a lock on the folder.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from campaign.errors import EditConflict, Problem, ScheduleError
from campaign.series.parts import field_of, is_part_key, label, part_number

DAY_FIELDS = ("subject", "preheader", "note")  # text fields; "pin" (a list of section headings) besides
PIN = "pin"
_INSERT_AFTER = {
    "subject": (),
    "preheader": ("subject",),
    "note": ("preheader", "subject"),
    PIN: ("note", "preheader", "subject"),
}
_LOCK = threading.Lock()
_PARSED: dict[str, object] = {}  # the last text loaded round-trip -> its document (copied before each edit)
_PARSED_LOCK = threading.Lock()


def etag_of(text: str) -> str:
    """A strong ETag of a file's text (quoted, as HTTP writes it)."""
    return '"' + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1 << 16  # never re-fold a long line
    y.indent(mapping=2, sequence=4, offset=2)  # the repository's schedule.yaml style
    return y


def _quoted_like(old, value: str):
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    return DoubleQuotedScalarString(value)  # double quotes for new keys and plain old values alike


def _day_map(data, day: date) -> CommentedMap:
    entry = None
    if isinstance(data, CommentedMap) and is_part_key(day):  # start: on_join — the n-th entry of parts:
        parts, index = data.get("parts"), part_number(day) - 1
        entry = parts[index] if isinstance(parts, CommentedSeq) and index < len(parts) else None
    elif isinstance(data, CommentedMap) and isinstance(days := data.get("days"), CommentedMap):
        entry = days.get(day)
    if not isinstance(entry, CommentedMap):
        raise ScheduleError(
            Problem(
                "schedule.yaml",
                None,
                field_of(day),
                f"{label(day)} is not a scheduled day",
                "pick a day listed under days: (or a part under parts:)",
            )
        )
    return entry


def _insert(entry: CommentedMap, key: str, value) -> None:
    after = next((k for k in _INSERT_AFTER[key] if k in entry), None)
    position = list(entry).index(after) + 1 if after is not None else len(entry)
    last = list(entry)[-1] if len(entry) else None
    entry.insert(position, key, value)
    if position == len(entry) - 1 and last is not None and last in entry.ca.items:
        entry.ca.items[key] = entry.ca.items.pop(last)  # a comment after the day stays after the day


def _delete(entry: CommentedMap, key: str) -> None:
    keys = list(entry)
    if key in entry.ca.items and keys[-1] == key and len(keys) > 1:
        entry.ca.items[keys[-2]] = entry.ca.items.pop(key)
    del entry[key]


def _pins(entry: CommentedMap, value: list[str] | None) -> None:
    """`pin:` as the file writes it: one flow sequence of double-quoted headings; none removes the key."""
    if not value:
        if PIN in entry:
            _delete(entry, PIN)
        return
    if PIN in entry and list(entry[PIN]) == list(value):
        return
    seq = CommentedSeq([DoubleQuotedScalarString(v) for v in value])
    seq.fa.set_flow_style()
    if PIN in entry:
        entry[PIN] = seq
    else:
        _insert(entry, PIN, seq)


def set_day_fields(text: str, day: date, fields: Mapping[str, Any]) -> str:
    """schedule.yaml's text with `day`'s subject/preheader/note (strings) and pin (a list of headings) set to
    `fields` (an empty or None note or pin removes the key). Only the keys in `fields` are touched; a value equal
    to the current one is left as written."""
    crlf = "\r\n" in text
    y = _yaml()
    data = _load(y, text.replace("\r\n", "\n") if crlf else text)
    entry = _day_map(data, day)
    for key, value in fields.items():
        if key == PIN:
            _pins(entry, value)
            continue
        if key not in DAY_FIELDS:
            raise ValueError(f"not a day field: {key}")
        if key == "note" and not value:
            if key in entry:
                _delete(entry, key)
            continue
        if value is None:
            continue
        if key in entry:
            if entry[key] != value:
                entry[key] = _quoted_like(entry[key], value)
        else:
            _insert(entry, key, DoubleQuotedScalarString(value))
    out = io.StringIO()
    y.dump(data, out)
    result = out.getvalue()
    if crlf:  # keep the file's own line endings
        result = result.replace("\n", "\r\n")
    return result


def _load(y: YAML, text: str):
    """A fresh round-trip document of `text`. Typing edits one file text over and over: the parse of the last
    text is kept and deep-copied (a third of the cost of parsing it again)."""
    with _PARSED_LOCK:
        cached = _PARSED.get(text)
    if cached is None:
        cached = y.load(text)
        with _PARSED_LOCK:
            _PARSED.clear()
            _PARSED[text] = cached
    return copy.deepcopy(cached)


def day_fields(text: str, day: date) -> dict[str, Any]:
    """The day's subject, preheader, note and pins as written in the text."""
    entry = _day_map(_yaml().load(text), day)
    fields: dict[str, Any] = {k: (str(entry[k]) if entry.get(k) is not None else None) for k in DAY_FIELDS}
    fields[PIN] = [str(p) for p in entry.get(PIN) or []]
    return fields


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    with _LOCK:
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def read_text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as f:
        return f.read()


def write_if_unchanged(path: Path, new_text: str, expected_etag: str) -> str:
    """Write `new_text` to `path` atomically when the file still has `expected_etag`; its new ETag. Raises
    EditConflict (with the current text) otherwise — nothing written."""
    with _folder_lock(path.parent):
        current = read_text(path)
        if etag_of(current) != expected_etag:
            raise EditConflict(path.name, current, etag_of(current))
        mode = path.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(new_text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return etag_of(new_text)
