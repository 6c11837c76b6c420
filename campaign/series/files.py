"""Reading the organiser's files: one place that turns every way a file can be wrong into a `Problem`.

Missing, a directory, a symlink where one is refused, unreadable, larger than its cap, not UTF-8, holding
NUL bytes: each gives `file:line: what — fix` (exit 2), never a traceback. Sizes are checked with `stat`
and the read is bounded, so a huge file costs nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from campaign.errors import Problem

KB = 1024
# Caps (bytes). The default files are far below them: article 11 KB, schedule 10 KB, a template 3 KB.
MAX_ARTICLE = 512 * KB
MAX_SCHEDULE = 256 * KB
MAX_CRISIS = 256 * KB
MAX_DISCLAIMER = 16 * KB
MAX_TEMPLATE = 128 * KB


def file_problem(path: Path, name: str, *, max_bytes: int, fix_missing: str, allow_symlink: bool = True):
    """(text, None) or (None, Problem) for the UTF-8 file at `path`, shown to the user as `name`."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, Problem(name, None, "", "file not found", fix_missing)
    except OSError as err:
        return None, Problem(name, None, "", f"cannot read the file ({err.strerror})", "check the path and permissions")
    if stat.S_ISLNK(info.st_mode):
        if not allow_symlink:
            return None, Problem(name, None, "", "is a symbolic link", "replace the link with a regular file")
        try:
            info = os.stat(path)
        except OSError:
            return None, Problem(name, None, "", "is a broken symbolic link", fix_missing)
    if stat.S_ISDIR(info.st_mode):
        return None, Problem(name, None, "", "is a directory, not a file", f"remove the directory; {fix_missing}")
    if not stat.S_ISREG(info.st_mode):
        return None, Problem(name, None, "", "is not a regular file (a device, pipe or socket)", fix_missing)
    if info.st_size > max_bytes:
        return None, Problem(
            name,
            None,
            "",
            f"the file is {info.st_size // KB} KB; the limit is {max_bytes // KB} KB",
            "shorten it (is this the right file?)",
        )
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        return None, Problem(name, None, "", f"cannot read the file ({err.strerror})", "check its permissions")
    if len(data) > max_bytes:  # grew after stat
        return None, Problem(name, None, "", f"the file is over {max_bytes // KB} KB", "shorten it")
    return decode(data, name)


def decode(data: bytes, name: str):
    """(text, None) or (None, Problem): UTF-8 (a leading BOM is dropped), no NUL bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return None, Problem(
            name,
            line,
            "",
            f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8",
        )
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return None, Problem(name, line, "", "the file holds a NUL byte (is it a binary file?)", "save it as text")
    return text, None
