"""Hostile-input corpus for the organiser's files (issue 8 #4, #6, #7): schedule.yaml, content/, templates/.

Every case edits a copy of the real campaign folder, runs the real `campaign validate` in it, and asserts:
exit 2, the message names the file (and the field or rule), and no traceback. Bombs (YAML aliases, 20,000-deep
lists, string repetition in a template) run under a memory cap and must finish quickly.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CAMPAIGN_BIN, base_env, copy_campaign

Edit = Callable[[Path], None]


def replace(rel: str, old: str, new: str, count: int = 1) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, count), encoding="utf-8")

    return edit


def write(rel: str, data: str | bytes) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    return edit


def append(rel: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        with (root / rel).open("a", encoding="utf-8") as f:
            f.write(text)

    return edit


def remove(rel: str) -> Edit:
    return lambda root: (root / rel).unlink()


def make_dir(rel: str) -> Edit:
    def edit(root: Path) -> None:
        (root / rel).unlink()
        (root / rel).mkdir()
        (root / rel / "inside.txt").write_text("x")

    return edit


def symlink(rel: str, target: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.symlink_to(target if target.startswith("/") else root / target)

    return edit


def subject(day: str, value: str) -> Edit:
    """Set a day's subject to a raw YAML double-quoted value (escapes such as \\u2028 allowed)."""

    def edit(root: Path) -> None:
        path = root / "schedule.yaml"
        lines = path.read_text(encoding="utf-8").split("\n")
        at = lines.index(f"  {day}:")
        assert lines[at + 1].startswith("    subject: ")
        lines[at + 1] = f'    subject: "{value}"'
        path.write_text("\n".join(lines), encoding="utf-8")

    return edit


def day_field(day: str, field: str, value: str) -> Edit:
    """Add (or replace) `field: "value"` under a day."""

    def edit(root: Path) -> None:
        path = root / "schedule.yaml"
        lines = path.read_text(encoding="utf-8").split("\n")
        at = lines.index(f"  {day}:")
        end = at + 1
        while end < len(lines) and lines[end].startswith("    "):
            end += 1
        kept = [line for line in lines[at + 1 : end] if not line.startswith(f"    {field}:")]
        lines[at + 1 : end] = kept + [f"    {field}: {value}"]
        path.write_text("\n".join(lines), encoding="utf-8")

    return edit


def chain(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for e in edits:
            e(root)

    return edit


SCHED = "schedule.yaml"
FROM = 'from: "Mind Matters Awareness <hello@example.org>"'
REPLY = 'reply_to: "support@example.org"'
NAME = 'name: "Hope and Healing: September Awareness Series"'
CRISIS = "content/crisis_resources.yaml"
ARTICLE = "content/article.md"
DISCLAIMER = "content/disclaimer.md"
ISSUE = "templates/issue.mjml.j2"
BASE = "templates/base.mjml.j2"
CRISIS_T = "templates/partials/crisis.mjml.j2"
DISCL_T = "templates/partials/disclaimer.mjml.j2"
FOOTER_T = "templates/partials/footer.mjml.j2"
FOOTER_TXT = "templates/partials/footer.txt.j2"
LIST_T = "templates/partials/crisis_list.html.j2"
CRISIS_DIV = '<div class="c-crisis" role="note" aria-label="Crisis support">'
DISCL_TEXT = '<mj-text css-class="c-muted" font-size="13px" color="#52606d">'

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
DEEP_FLOW = "[" * 20_000 + "]" * 20_000
DEEP_BLOCK = "".join("  " * i + "-\n" for i in range(200)) + "  " * 200 + "- x\n"
DEEP_INLINE = "- " * 20_000 + "x\n"

# (id, edit, file named in the message, words in the message)
CASES: list[tuple[str, Edit, str, str]] = [
    # -- schedule.yaml: dates -----------------------------------------------------------------------
    ("date-sep-31", replace(SCHED, "  2027-09-30:", "  2027-09-31:"), "schedule.yaml:", "not a real date"),
    ("date-feb-30", replace(SCHED, "  2027-09-30:", "  2027-02-30:"), "schedule.yaml:", "not a real date"),
    ("date-month-13", replace(SCHED, "  2027-09-30:", "  2027-13-01:"), "schedule.yaml:", "not a real date"),
    ("date-day-00", replace(SCHED, "  2027-09-30:", "  2027-09-00:"), "schedule.yaml:", "not a real date"),
    ("ack-day-impossible", replace(SCHED, "day: 2027-09-05", "day: 2027-09-31"), "schedule.yaml:", "date"),
    ("date-october", replace(SCHED, "  2027-09-30:", "  2027-10-01:"), "schedule.yaml:", "outside September"),
    ("date-word-key", replace(SCHED, "  2027-09-30:", "  tomorrow:"), "schedule.yaml:", "not a date"),
    ("date-with-time", replace(SCHED, "  2027-09-30:", "  2027-09-30 10:00:"), "schedule.yaml:", "not a date"),
    ("date-duplicate", replace(SCHED, "  2027-09-30:", "  2027-09-29:"), "schedule.yaml:", "duplicate key"),
    # -- schedule.yaml: structure bombs and encoding ---------------------------------------------------
    (
        "alias-bomb",
        append(SCHED, "\nbomb:\n" + "".join("  " + line + "\n" for line in ALIAS_BOMB.splitlines())),
        "schedule.yaml:",
        "aliases are not allowed",
    ),
    (
        "alias-single",
        chain(replace(SCHED, "campaign:\n", "campaign: &c\n"), append(SCHED, "\nagain: *c\n")),
        "schedule.yaml:",
        "aliases are not allowed",
    ),
    ("deep-flow-list", day_field("2027-09-03", "note", DEEP_FLOW), "schedule.yaml:", "nested more than 50"),
    ("deep-block-list", append(SCHED, "\ndeep:\n" + DEEP_BLOCK), "schedule.yaml:", "nested more than 50"),
    ("deep-inline-list", append(SCHED, "\ndeep:\n  " + DEEP_INLINE), "schedule.yaml:", "nested more than 50"),
    ("set-tag", replace(SCHED, "provider: outbox", "provider: !!set {a, b}"), "schedule.yaml:", "tag"),
    (
        "deep-mapping",
        append(SCHED, "\n" + "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "v: 1\n"),
        "schedule.yaml:",
        "nested more than 50",
    ),
    ("not-utf8", write(SCHED, 'campaign:\n  name: "caf\xe9"\n'.encode("latin-1")), "schedule.yaml:2", "not UTF-8"),
    ("nul-byte", write(SCHED, b'campaign:\n  name: "a\x00b"\n'), "schedule.yaml:2", "NUL"),
    ("control-char", write(SCHED, 'campaign:\n  name: "a\x07b"\n'), "schedule.yaml:2", "not allowed in YAML"),
    ("huge-file", append(SCHED, "# " + "x" * 300_000 + "\n"), "schedule.yaml", "limit is 256 KB"),
    ("missing", remove(SCHED), "schedule.yaml", "file not found"),
    ("directory", make_dir(SCHED), "schedule.yaml", "is a directory"),
    ("empty", write(SCHED, ""), "schedule.yaml", "empty"),
    ("top-level-list", write(SCHED, "- a\n- b\n"), "schedule.yaml:1", "mapping"),
    ("syntax-error", replace(SCHED, 'subject: "Why we talk', 'subject: "Why "we" talk'), "schedule.yaml:", "YAML"),
    (
        "python-tag",
        replace(SCHED, "provider: outbox", "provider: !!python/object/apply:os.system [id]"),
        "schedule.yaml:",
        "tag",
    ),
    ("binary-tag", replace(SCHED, "provider: outbox", "provider: !!binary '%%%'"), "schedule.yaml:", "tag"),
    (
        "huge-int",
        replace(SCHED, "provider: outbox", "provider: outbox\n  concurrency: " + "9" * 5000),
        "schedule.yaml:",
        "concurrency",
    ),
    ("days-is-list", replace(SCHED, "days:\n", "days:\n  - x\nold_days:\n"), "schedule.yaml:", "days"),
    # -- schedule.yaml: header-safe subject, preheader, from, reply-to, name ----------------------------
    *[
        (f"subject-{name}", subject("2027-09-03", f"A month{esc}together"), "schedule.yaml:", "subject")
        for name, esc in [
            ("cr", "\\r"),
            ("lf", "\\n"),
            ("crlf", "\\r\\n"),
            ("u2028", "\\L"),
            ("u2029", "\\P"),
            ("nel", "\\N"),
            ("tab", "\\t"),
            ("nul", "\\0"),
            ("esc", "\\e"),
            ("bell", "\\a"),
            ("rlo", "\\u202E"),
            ("zwsp", "\\u200B"),
            ("bom", "\\uFEFF"),
            ("shy", "\\u00AD"),
            ("lre", "\\u202A"),
            ("del", "\\x7F"),
            ("c1", "\\x9B"),
            ("isolate", "\\u2066"),
            ("wj", "\\u2060"),
            ("tag-char", "\\U000E0041"),
        ]
    ],
    *[
        (
            f"preheader-{name}",
            day_field("2027-09-03", "preheader", f'"Advocates{esc}unite"'),
            "schedule.yaml:",
            "preheader",
        )
        for name, esc in [
            ("cr", "\\r"),
            ("lf", "\\n"),
            ("u2028", "\\L"),
            ("u2029", "\\P"),
            ("nel", "\\N"),
            ("rlo", "\\u202E"),
            ("tab", "\\t"),
            ("zwsp", "\\u200B"),
        ]
    ],
    ("subject-raw-u2028", subject("2027-09-03", "A month\u2028together"), "schedule.yaml:", "subject"),
    (
        "subject-folded",
        replace(
            SCHED,
            'subject: "A month when communities come together"',
            'subject: "A month when\n      communities come together"',
        ),
        "schedule.yaml:",
        "one line",
    ),
    ("subject-too-long", subject("2027-09-03", "x" * 151), "schedule.yaml:", "151 characters"),
    ("subject-empty", subject("2027-09-03", "  "), "schedule.yaml:", "subject is empty"),
    (
        "from-lf",
        replace(SCHED, FROM, 'from: "Mind <hello@example.org>\\nBcc: all@example.net"'),
        "schedule.yaml:",
        "campaign.from",
    ),
    ("from-cr", replace(SCHED, FROM, 'from: "Mind\\r <hello@example.org>"'), "schedule.yaml:", "campaign.from"),
    ("from-u2028", replace(SCHED, FROM, 'from: "Mind\\L <hello@example.org>"'), "schedule.yaml:", "campaign.from"),
    ("from-nel", replace(SCHED, FROM, 'from: "Mind\\N <hello@example.org>"'), "schedule.yaml:", "campaign.from"),
    (
        "from-two-comma",
        replace(SCHED, FROM, 'from: "hello@example.org, evil@example.net"'),
        "schedule.yaml:",
        "more than one address",
    ),
    (
        "from-two-angles",
        replace(SCHED, FROM, 'from: "Mind <hello@example.org> <evil@example.net>"'),
        "schedule.yaml:",
        "more than one address",
    ),
    (
        "from-name-comma",
        replace(SCHED, FROM, 'from: "Mind, Matters <hello@example.org>"'),
        "schedule.yaml:",
        "more than one address",
    ),
    (
        "from-semicolon",
        replace(SCHED, FROM, 'from: "a@example.org; b@example.org"'),
        "schedule.yaml:",
        "more than one address",
    ),
    ("from-not-address", replace(SCHED, FROM, 'from: "Mind Matters"'), "schedule.yaml:", "not a valid email"),
    ("from-double-at", replace(SCHED, FROM, 'from: "Mind <hello@@example.org>"'), "schedule.yaml:", "campaign.from"),
    ("from-utf8-local", replace(SCHED, FROM, 'from: "Mind <josé@example.org>"'), "schedule.yaml:", "not a valid email"),
    (
        "reply-lf",
        replace(SCHED, REPLY, 'reply_to: "support@example.org\\nX: y"'),
        "schedule.yaml:",
        "campaign.reply_to",
    ),
    ("reply-u2029", replace(SCHED, REPLY, 'reply_to: "support@example.org\\P"'), "schedule.yaml:", "campaign.reply_to"),
    (
        "reply-two",
        replace(SCHED, REPLY, 'reply_to: "a@example.org, b@example.org"'),
        "schedule.yaml:",
        "more than one address",
    ),
    (
        "reply-invalid",
        replace(SCHED, REPLY, 'reply_to: "support at example.org"'),
        "schedule.yaml:",
        "not a valid email",
    ),
    ("name-lf", replace(SCHED, NAME, 'name: "Hope\\nBcc: x@example.net"'), "schedule.yaml:", "campaign.name"),
    ("name-rlo", replace(SCHED, NAME, 'name: "Hope \\u202Egnilaeh"'), "schedule.yaml:", "campaign.name"),
    # -- schedule.yaml: other fields ---------------------------------------------------------------------
    (
        "unknown-key",
        replace(SCHED, "  default_country: US", "  default_country: US\n  colour: blue"),
        "schedule.yaml:",
        "unknown key",
    ),
    ("send-time-25", replace(SCHED, 'send_time: "09:00"', 'send_time: "25:00"'), "schedule.yaml:", "HH:MM"),
    ("send-time-sexagesimal", replace(SCHED, 'send_time: "09:00"', "send_time: 9:00"), "schedule.yaml:", "quoted"),
    (
        "timezone-unknown",
        replace(SCHED, "timezone: America/New_York", "timezone: Mars/Olympus"),
        "schedule.yaml:",
        "unknown timezone",
    ),
    (
        "timezone-traversal",
        replace(SCHED, "timezone: America/New_York", "timezone: ../../etc/passwd"),
        "schedule.yaml:",
        "unknown timezone",
    ),
    (
        "country-unknown",
        replace(SCHED, "default_country: US", "default_country: XX"),
        "schedule.yaml:",
        "no crisis resources",
    ),
    (
        "rate-negative",
        replace(SCHED, "provider: outbox", "provider: outbox\n  rate_limit: -1"),
        "schedule.yaml:",
        "rate_limit",
    ),
    (
        "personal-pause-unknown",
        replace(SCHED, "provider: outbox", "provider: outbox\n  personal_pause: sometimes"),
        "schedule.yaml:",
        "campaign.personal_pause",
    ),
    (
        "personal-pause-control-char",
        replace(SCHED, "provider: outbox", 'provider: outbox\n  personal_pause: "skip\\u0000"'),
        "schedule.yaml:",
        "campaign.personal_pause",
    ),
    ("pin-unknown", day_field("2027-09-03", "pin", '["No Such Section"]'), "schedule.yaml:", "no section heading"),
    ("pin-not-list", day_field("2027-09-03", "pin", "5"), "schedule.yaml:", "pin"),
    # -- schedule.yaml: numbers and lint (issue 10 #5) ---------------------------------------------------
    ("note-fake-number", day_field("2027-09-03", "note", '"call 1-800-555-0199 any time"'), "schedule.yaml:", "N1"),
    ("note-fake-text", day_field("2027-09-03", "note", '"Text 555 0100 if you need us."'), "schedule.yaml:", "N1"),
    ("note-old-lifeline", day_field("2027-09-03", "note", '"Call 1-800-273-8255."'), "schedule.yaml:", "N1"),
    ("subject-fake-number", subject("2027-09-03", "Call 555-0100-9999 today"), "schedule.yaml:", "N1"),
    (
        "preheader-fake-number",
        day_field("2027-09-03", "preheader", '"Our line: (555) 123-4567"'),
        "schedule.yaml:",
        "N1",
    ),
    (
        "note-commit-suicide",
        day_field("2027-09-03", "note", '"Nobody should commit suicide alone."'),
        "schedule.yaml:",
        "L1",
    ),
    (
        "note-way-out",
        day_field("2027-09-03", "note", '"For him, suicide was the only way to stop the pain."'),
        "schedule.yaml:",
        "L6",
    ),
    ("subject-sensational", subject("2027-09-03", "Suicide rates soaring this year"), "schedule.yaml:", "L13"),
    (
        "ack-n1-refused",
        append(SCHED, '  - rule: N1\n    day: 2027-09-03\n    reason: "we checked it"\n'),
        "schedule.yaml:",
        "acknowledgements",
    ),
    # -- content/article.md --------------------------------------------------------------------------------
    (
        "article-not-utf8",
        write(ARTICLE, b"---\ntitle: t\nsource: s\n---\n\ncaf\xe9\n"),
        "content/article.md:6",
        "not UTF-8",
    ),
    ("article-missing", remove(ARTICLE), "content/article.md", "file not found"),
    ("article-directory", make_dir(ARTICLE), "content/article.md", "is a directory"),
    ("article-huge", append(ARTICLE, "\n" + ("word " * 120_000) + "\n"), "content/article.md", "limit is 512 KB"),
    (
        "article-too-many-blocks",
        append(ARTICLE, "".join(f"\n\nPara {i}." for i in range(700))),
        "content/article.md",
        "the limit is 300",
    ),
    ("article-no-front-matter", write(ARTICLE, "Just text.\n"), "content/article.md:1", "front matter"),
    ("article-front-alias", replace(ARTICLE, "---\n", "---\nx: &a [1]\ny: *a\n"), "content/article.md:", "aliases"),
    (
        "article-front-date",
        replace(ARTICLE, "---\n", "---\nwritten: 2027-09-31\n"),
        "content/article.md:",
        "not a real date",
    ),
    (
        "article-front-deep",
        replace(ARTICLE, "---\n", "---\nx: " + "[" * 5000 + "]" * 5000 + "\n"),
        "content/article.md:",
        "nested more than 50",
    ),
    ("article-nul", append(ARTICLE, "\nbad \x00 byte\n"), "content/article.md:", "NUL"),
    ("article-empty-body", write(ARTICLE, "---\ntitle: t\nsource: s\n---\n\n"), "content/article.md:", "no text"),
    (
        "article-fake-number",
        append(ARTICLE, "\n\nIf you need help, call 1-800-555-0199 any time.\n"),
        "content/article.md:",
        "N1",
    ),
    # -- content/crisis_resources.yaml -------------------------------------------------------------------
    (
        "crisis-not-utf8",
        write(CRISIS, b'countries:\n  US:\n    name: "\xff"\n'),
        "content/crisis_resources.yaml:3",
        "not UTF-8",
    ),
    ("crisis-missing", remove(CRISIS), "content/crisis_resources.yaml", "file not found"),
    ("crisis-directory", make_dir(CRISIS), "content/crisis_resources.yaml", "is a directory"),
    (
        "crisis-date",
        replace(CRISIS, "verified_on: 2026-11-01", "verified_on: 2026-11-31"),
        "content/crisis_resources.yaml:",
        "not a real date",
    ),
    ("crisis-alias-bomb", append(CRISIS, "\n" + ALIAS_BOMB), "content/crisis_resources.yaml:", "aliases"),
    ("crisis-deep", append(CRISIS, "\nx: " + DEEP_FLOW + "\n"), "content/crisis_resources.yaml:", "nested"),
    (
        "crisis-phone-letters",
        replace(CRISIS, 'phone: "988"', 'phone: "988a"'),
        "content/crisis_resources.yaml:",
        "phone",
    ),
    (
        "crisis-unknown-key",
        replace(CRISIS, "    name: United States", "    name: United States\n    colour: red"),
        "content/crisis_resources.yaml:",
        "colour",
    ),
    (
        "crisis-http-url",
        replace(CRISIS, 'url: "https://988lifeline.org"', 'url: "http://988lifeline.org"'),
        "content/crisis_resources.yaml:",
        "url",
    ),
    ("crisis-huge", append(CRISIS, "# " + "x" * 300_000 + "\n"), "content/crisis_resources.yaml", "limit"),
    ("crisis-syntax", append(CRISIS, "\n  bad: [unclosed\n"), "content/crisis_resources.yaml:", "YAML"),
    ("crisis-nul", append(CRISIS, "\x00"), "content/crisis_resources.yaml:", "NUL"),
    (
        "crisis-python-tag",
        replace(CRISIS, 'emergency: "911"', "emergency: !!python/name:os.system ''"),
        "content/crisis_resources.yaml:",
        "tag",
    ),
    # -- content/disclaimer.md ----------------------------------------------------------------------------
    ("disclaimer-missing", remove(DISCLAIMER), "content/disclaimer.md", "file not found"),
    ("disclaimer-directory", make_dir(DISCLAIMER), "content/disclaimer.md", "is a directory"),
    ("disclaimer-empty", write(DISCLAIMER, "  \n"), "content/disclaimer.md", "empty"),
    ("disclaimer-not-utf8", write(DISCLAIMER, b"\xfe\xff text"), "content/disclaimer.md", "not UTF-8"),
    ("disclaimer-huge", write(DISCLAIMER, "x " * 20_000), "content/disclaimer.md", "limit"),
    ("disclaimer-nul", write(DISCLAIMER, "text\x00"), "content/disclaimer.md", "NUL"),
    # -- templates: the sandbox (issue 8 #6) ----------------------------------------------------------------
    (
        "tpl-cycler-globals",
        replace(ISSUE, "{{ campaign.name }}", "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}"),
        "templates/issue.mjml.j2:",
        "internals",
    ),
    (
        "tpl-class-mro",
        replace(ISSUE, "{{ campaign.name }}", "{{ campaign.__class__.__mro__ }}"),
        "templates/issue.mjml.j2:",
        "internals",
    ),
    (
        "tpl-attr-filter",
        replace(ISSUE, "{{ campaign.name }}", "{{ campaign|attr('__class__') }}"),
        "templates/issue.mjml.j2:",
        "internals",
    ),
    (
        "tpl-getitem-dunder",
        replace(ISSUE, "{{ campaign.name }}", "{{ campaign['__class__'] }}"),
        "templates/issue.mjml.j2:",
        "internals",
    ),
    (
        "tpl-partial-etc-passwd",
        symlink(LIST_T, "/etc/passwd"),
        "templates/partials/crisis_list.html.j2",
        "symbolic link",
    ),
    (
        "tpl-partial-inner-link",
        symlink(DISCL_T, "templates/partials/footer.mjml.j2"),
        "templates/partials/disclaimer.mjml.j2",
        "symbolic link",
    ),
    ("tpl-partials-dir-link", symlink("templates/partials", "/etc"), "templates/partials", "symbolic link"),
    (
        "tpl-include-parent",
        append(FOOTER_TXT, '{% include "../schedule.yaml" %}'),
        "templates/partials/footer.txt.j2:",
        "not a plain relative path",
    ),
    (
        "tpl-include-absolute",
        append(FOOTER_TXT, '{% include "/etc/passwd" %}'),
        "templates/partials/footer.txt.j2:",
        "not a plain relative path",
    ),
    (
        "tpl-include-missing",
        append(FOOTER_TXT, '{% include "partials/nothere.j2" %}'),
        "templates/partials/footer.txt.j2:",
        "does not exist",
    ),
    (
        "tpl-include-self",
        append(FOOTER_T, '{% include "partials/footer.mjml.j2" %}'),
        "templates/partials/footer.mjml.j2:",
        "recursion",
    ),
    (
        "tpl-extends-self",
        replace(ISSUE, '{% extends "base.mjml.j2" %}', '{% extends "issue.mjml.j2" %}'),
        "templates/issue.mjml.j2:",
        "recursion",
    ),
    (
        "tpl-mutual-include",
        chain(
            append(FOOTER_TXT, '{% include "partials/disclaimer.txt.j2" %}'),
            append("templates/partials/disclaimer.txt.j2", '{% include "partials/footer.txt.j2" %}'),
        ),
        "templates/partials/",
        "recursion",
    ),
    (
        "tpl-dynamic-include",
        append(FOOTER_TXT, "{% include campaign.name %}"),
        "templates/partials/footer.txt.j2:",
        "chosen at render time",
    ),
    ("tpl-repeat-bomb", append(FOOTER_TXT, "{{ 'x' * 1000000000 }}"), "templates/partials/footer.txt.j2:", "sandbox"),
    ("tpl-power-bomb", append(FOOTER_TXT, "{{ 9 ** 999999999 }}"), "templates/partials/footer.txt.j2:", "sandbox"),
    (
        "tpl-range-bomb",
        append(FOOTER_TXT, "{% for i in range(999999999) %}x{% endfor %}"),
        "templates/partials/footer.txt.j2",
        "range",
    ),
    ("tpl-not-utf8", write(FOOTER_TXT, b"\xff\xfe"), "templates/partials/footer.txt.j2", "not UTF-8"),
    ("tpl-huge", append(FOOTER_TXT, "{# " + "x" * 200_000 + " #}"), "templates/partials/footer.txt.j2", "limit"),
    ("tpl-directory", make_dir("templates/issue.txt.j2"), "templates/issue.txt.j2", "is a directory"),
    ("tpl-missing", remove("templates/issue.txt.j2"), "templates/issue.txt.j2", "not found"),
    ("tpl-syntax", append(FOOTER_TXT, "{% if %}"), "templates/partials/footer.txt.j2:", "syntax"),
    ("tpl-undefined", append(FOOTER_TXT, "{{ secret_key }}"), "templates/partials/footer.txt.j2", "undefined"),
    ("tpl-no-body-end", replace(BASE, "  </mj-body>", ""), "templates/base.mjml.j2", "</mj-body>"),
    (
        "tpl-fake-number",
        replace(
            FOOTER_T,
            "<p>{{ campaign.postal_address }}</p>",
            "<p>{{ campaign.postal_address }}, or call 1-800-555-0199</p>",
        ),
        "templates/partials/footer.mjml.j2:",
        "N1",
    ),
    (
        "tpl-fake-tel-link",
        replace(CRISIS_T, "</h2>", '</h2><p><a href="tel:5551234567">our line</a></p>'),
        "templates/partials/crisis.mjml.j2:",
        "N1",
    ),
    # -- templates: safety visible (issue 8 #7) --------------------------------------------------------------
    (
        "vis-crisis-display-none",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="display:none" ')),
        "crisis block",
        "display:none",
    ),
    (
        "vis-crisis-visibility",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="visibility:hidden" ')),
        "crisis block",
        "visibility:hidden",
    ),
    (
        "vis-crisis-opacity",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="opacity:0" ')),
        "crisis block",
        "opacity",
    ),
    (
        "vis-crisis-max-height",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="max-height:0;overflow:hidden" ')),
        "crisis block",
        "max-height:0 with overflow:hidden",
    ),
    (
        "vis-crisis-mso-hide",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="mso-hide:all" ')),
        "crisis block",
        "mso-hide:all",
    ),
    (
        "vis-crisis-small",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="font-size:10px" ')),
        "crisis block",
        "font-size 10px",
    ),
    (
        "vis-crisis-faint",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="color:#e0efec !important" ')),
        "crisis block",
        "contrast",
    ),
    (
        "vis-crisis-wrapper-hidden",
        chain(
            replace(CRISIS_T, CRISIS_DIV, '<div style="display:none">' + CRISIS_DIV),
            replace(CRISIS_T, "</div>\n        </mj-text>", "</div></div>\n        </mj-text>"),
        ),
        "crisis block",
        "display:none",
    ),
    ("vis-crisis-list-hidden", replace(LIST_T, "<ul>", '<ul style="display:none">'), "crisis block", "display:none"),
    (
        "vis-crisis-offscreen",
        replace(CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="position:absolute;left:-9999px" ')),
        "crisis block",
        "position:absolute",
    ),
    (
        "vis-disclaimer-1px",
        replace(DISCL_T, DISCL_TEXT, DISCL_TEXT.replace('font-size="13px"', 'font-size="1px"')),
        "medical disclaimer",
        "font-size 1px",
    ),
    (
        "vis-disclaimer-white",
        replace(DISCL_T, DISCL_TEXT, DISCL_TEXT.replace('color="#52606d"', 'color="#ffffff"')),
        "medical disclaimer",
        "colour #ffffff on background #ffffff",
    ),
    (
        "vis-disclaimer-display-none",
        replace(DISCL_T, "<p><strong>", '<p style="display:none"><strong>'),
        "medical disclaimer",
        "display:none",
    ),
    (
        "vis-disclaimer-hidden-attr",
        replace(DISCL_T, "<p><strong>", "<p hidden><strong>"),
        "medical disclaimer",
        "hidden attribute",
    ),
]


def _limit_memory() -> None:  # runs in the child: a bomb that slips through dies instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_campaign(tmp_path / "campaign")


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("edit,file,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_cleanly(folder: Path, edit: Edit, file: str, words: str):
    edit(folder)
    started = time.monotonic()
    result = subprocess.run(
        [str(CAMPAIGN_BIN), "validate"],
        cwd=folder,
        env=base_env(folder),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors, output
    assert any(file in line and words.lower() in line.lower() for line in errors), output
    assert all(" — " in line for line in errors), output  # every problem says how to fix it
    assert "root:" not in output  # /etc/passwd was never read into anything
    assert not (folder / "PWNED").exists()  # nothing ran
    assert elapsed < 20, f"took {elapsed:.1f} s"


@pytest.mark.parametrize(
    "text",
    [ALIAS_BOMB, "x: " + DEEP_FLOW, DEEP_BLOCK, DEEP_INLINE],
    ids=["alias-bomb", "deep-flow", "deep-block", "deep-inline-block"],
)
def test_yaml_bombs_cost_nothing(text: str):
    from campaign.series.yamlsource import load_yaml

    started = time.perf_counter()
    doc = load_yaml(text, "schedule.yaml")
    assert time.perf_counter() - started < 0.5
    assert doc.data is None and doc.problems


def test_the_memory_cap_leaves_room_for_a_normal_run(folder: Path):
    result = subprocess.run(
        [str(CAMPAIGN_BIN), "validate"],
        cwd=folder,
        env=base_env(folder),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 0, result.stderr
    assert os.path.exists(folder / "schedule.yaml")
