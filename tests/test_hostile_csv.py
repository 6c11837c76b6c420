"""Issue 8 #1/#4: hostile subscriber files through the real `campaign subscribers import`.

Each case: exit 2, one `file:line: field: what — fix` message naming where, no traceback, nothing imported.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaign.ledger.csv_import import MAX_FILE_BYTES

HEADER = "email,name,country,timezone\n"
OK_ROW = "ann@example.org,Ann,US,America/New_York\n"


def _text(body: str) -> bytes:
    return body.encode("utf-8")


# (id, file bytes, expected fragments of the message, extra arguments)
CASES = [
    (
        "duplicate-email-column",
        _text("email,name,email\na@example.org,A,b@example.org\n"),
        ["list.csv:1:", "email:", "named twice"],
        [],
    ),
    (
        "duplicate-email-any-case",
        _text("Email,EMAIL\na@example.org,b@example.org\n"),
        ["list.csv:1:", "email:", "named twice"],
        [],
    ),
    (
        "duplicate-name-column",
        _text("email,name,name\na@example.org,A,B\n"),
        ["list.csv:1:", "name:", "named twice"],
        [],
    ),
    ("no-email-column", _text("mail,name\na@example.org,A\n"), ["list.csv:1:", "email:", "no 'email' column"], []),
    ("empty-file", b"", ["list.csv:1:", "email:", "no 'email' column"], []),
    ("only-a-bom", "\ufeff".encode(), ["list.csv:1:", "no 'email' column"], []),
    ("blank-lines-only", b"\n\n\n", ["list.csv:1:", "no 'email' column"], []),
    ("unknown-column", _text("email,phone\na@example.org,555\n"), ["list.csv:1:", "phone:", "unknown column"], []),
    (
        "quote-left-open",
        _text(HEADER + OK_ROW + 'bo@example.org,"Bo, \nci@example.org,Ci,US,\n'),
        ["list.csv:3:", "never closed"],
        [],
    ),
    ("quote-left-open-in-header", _text('email,"name\na@example.org,A\n'), ["list.csv:1:", "never closed"], []),
    ("text-after-closing-quote", _text(HEADER + 'a@example.org,"Ann"x,US,\n'), ["list.csv:2:", "not valid CSV"], []),
    (
        "cell-over-128k",
        _text(HEADER + OK_ROW + "b@example.org," + "x" * (129 * 1024) + ",US,\n"),
        ["list.csv:3:", "128 K"],
        [],
    ),
    (
        "open-quote-swallows-128k",
        _text(HEADER + 'a@example.org,"' + ("y" * 1000 + "\n") * 140),
        ["list.csv:2:", "128 K"],
        [],
    ),
    ("latin-1", (HEADER + OK_ROW + "zoe@example.org,Zoë,,\n").encode("latin-1"), ["list.csv:3:", "not UTF-8"], []),
    ("utf-16", (HEADER + OK_ROW).encode("utf-16"), ["list.csv:1:", "not UTF-8"], []),
    ("binary-png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ["list.csv:1:", "not UTF-8"], []),
    (
        "strict-invalid-address",
        _text(HEADER + OK_ROW + "not-an-address,B,,\n"),
        ["list.csv:3:", "email:"],
        ["--strict"],
    ),
    ("strict-double-dot", _text(HEADER + "a@example..org,A,,\n"), ["list.csv:2:", "email:", "period"], ["--strict"]),
    (
        "strict-zero-width-in-address",
        _text(HEADER + "a\u200b@example.org,A,,\n"),
        ["list.csv:2:", "email:", "invisible"],
        ["--strict"],
    ),
    (
        "strict-newline-in-address",
        _text(HEADER + '"a@example.org\nBcc: b@example.org",A,,\n'),
        ["list.csv:2:", "email:"],
        ["--strict"],
    ),
    ("strict-empty-email", _text(HEADER + OK_ROW + ",Nobody,,\n"), ["list.csv:3:", "email:", "empty"], ["--strict"]),
    (
        "strict-bad-country",
        _text(HEADER + "a@example.org,A,Mars,\n"),
        ["list.csv:2:", "country:", "two-letter"],
        ["--strict"],
    ),
    ("strict-non-ascii-country", _text(HEADER + "a@example.org,A,ÜS,\n"), ["list.csv:2:", "country:"], ["--strict"]),
    (
        "strict-bad-timezone",
        _text(HEADER + "a@example.org,A,,Mars/Olympus\n"),
        ["list.csv:2:", "timezone:", "IANA"],
        ["--strict"],
    ),
    (
        "strict-path-as-timezone",
        _text(HEADER + "a@example.org,A,,../../etc/passwd\n"),
        ["list.csv:2:", "timezone:"],
        ["--strict"],
    ),
    (
        "strict-name-over-200",
        _text(HEADER + "a@example.org," + "n" * 201 + ",,\n"),
        ["list.csv:2:", "name:", "200"],
        ["--strict"],
    ),
    (
        "strict-too-many-cells",
        _text(HEADER + "a@example.org,Doe, Jane,US,UTC\n"),
        ["list.csv:2:", "more cells"],
        ["--strict"],
    ),
    (
        "strict-month-13-joined-at",
        _text("email,joined_at\nann@example.org,2027-09-03T10:00:00Z\nbo@example.org,2027-13-01\n"),
        ["list.csv:3:", "joined_at:", "2027-13-01", "ISO 8601"],
        ["--strict"],
    ),
    (
        "strict-joined-at-words",
        _text("email,joined_at\nann@example.org,last tuesday\n"),
        ["list.csv:2:", "joined_at:", "ISO 8601"],
        ["--strict"],
    ),
    (
        "header-of-a-million-columns",
        _text("email" + ",x" * 999_999 + "\n"),
        ["list.csv:1:", "1,000,000 columns"],
        [],
    ),
    (
        "header-of-a-million-repeated-emails",
        _text(",".join(["email"] * 1_000_000) + "\n"),
        ["list.csv:1:", "1,000,000 columns"],
        [],
    ),
    (
        "header-of-65-columns",
        _text("email" + "".join(f",c{i}" for i in range(64)) + "\n"),
        ["list.csv:1:", "65 columns"],
        [],
    ),
    (
        "strict-accented-local-part-with-postmark",
        _text(HEADER + "josé@example.org,José,,\n"),
        ["list.csv:2:", "email:", "non-ASCII local part"],
        ["--strict", "postmark"],
    ),
]


def _stderr(result) -> str:
    return " ".join(result.stderr.split())  # the console may wrap long lines


def _assert_refused(campaign_dir, result, fragments: list[str]) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    message = _stderr(result)
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert " — " in message  # every refusal says how to fix it
    store = campaign_dir.store()
    try:
        assert list(store.list_subscribers(None)) == []  # nothing half-imported
    finally:
        store.close()


@pytest.mark.parametrize(("content", "fragments", "args"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_csv_is_refused_whole(campaign_dir, content, fragments, args):
    path = campaign_dir.root / "list.csv"
    path.write_bytes(content)
    env = {}
    if "postmark" in args:
        args = [a for a in args if a != "postmark"]
        env = {"CAMPAIGN_PROVIDER": "postmark"}
    result = campaign_dir.run("subscribers", "import", str(path), *args, env=env)
    _assert_refused(campaign_dir, result, fragments)


def _directory(root: Path) -> Path:
    (root / "lists").mkdir()
    return root / "lists"


def _symlink_to_directory(root: Path) -> Path:
    target = _directory(root)
    (root / "list.csv").symlink_to(target)
    return root / "list.csv"


def _huge(root: Path) -> Path:
    path = root / "list.csv"
    with path.open("wb") as f:  # sparse: costs no disk, the size check refuses it before reading
        f.truncate(MAX_FILE_BYTES + 1)
    return path


def _missing(root: Path) -> Path:
    return root / "nowhere.csv"


def _device(root: Path) -> Path:
    return Path(os.devnull)


def _fifo(root: Path) -> Path:
    path = root / "list.csv"
    os.mkfifo(path)  # reading it would block forever: refused from its type
    return path


PATHS = [
    ("directory", _directory, ["lists", "is a folder"]),
    ("symlink-to-directory", _symlink_to_directory, ["list.csv", "is a folder"]),
    ("huge-file", _huge, ["list.csv", "MB limit"]),
    ("missing-file", _missing, ["nowhere.csv", "file not found"]),
    ("device", _device, [os.devnull, "not a regular file"]),
    ("fifo", _fifo, ["list.csv", "not a regular file"]),
]


@pytest.mark.parametrize(("make", "fragments"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS])
def test_a_path_that_is_not_a_csv_file_is_refused(campaign_dir, make, fragments):
    path = make(campaign_dir.root)
    result = campaign_dir.run("subscribers", "import", str(path), timeout=30)
    _assert_refused(campaign_dir, result, fragments)
