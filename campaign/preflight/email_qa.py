"""Email QA over every day and crisis variant, as `campaign check` runs it and the tests assert it.

Structural checks of the HTML (doctype, lang, links, alt, size, contrast) live with the templates in
`campaign.series.qa` when present; this module adds what only the built message shows: the `.eml` the
outbox writes — quoted-printable lines ≤ 76 characters (RFC 2045; SpamAssassin's MIME_QP_LONG_LINE), no line
over 998, a `Feedback-ID` header, one-click unsubscribe headers.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

from campaign.clock import utcnow
from campaign.errors import Problem
from campaign.preflight.report import Report
from campaign.series.project import Project

MAX_HTML_BYTES = 100 * 1024  # Gmail clips HTML bodies over about 102 KB, hiding the footer
MAX_QP_LINE = 76  # RFC 2045 §6.7
MAX_LINE = 998  # RFC 5322 §2.1.1
QA_ADDRESS_NAME = "Ann Example"
PREVIEW_TOKEN = "preflight-qa-not-a-real-token"


def variants(project: Project) -> list[str]:
    return sorted(project.crisis.countries) + ["INTL"]


def parse(data: bytes) -> Message:
    # compat32: no header objects are built (4x faster over 240 messages); only raw lines are inspected.
    return message_from_bytes(data)


def html_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def mime_problems(data: bytes, where: str, message: Message | None = None) -> list[Problem]:
    """The problems of one built message (the bytes of its .eml)."""
    problems: list[Problem] = []
    message = message or parse(data)
    for header in ("Feedback-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID", "Date"):
        if not message.get(header):
            problems.append(Problem(where, None, header, "header missing", "the MIME builder must add it"))
    long = [n for n, line in enumerate(data.split(b"\n"), 1) if len(line.rstrip(b"\r")) > MAX_LINE]
    if long:
        problems.append(
            Problem(where, long[0], "line length", f"{len(long)} line(s) over {MAX_LINE} characters", "fold or encode")
        )
    for part in message.walk():
        if part.is_multipart():
            continue
        cte = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
        raw = part.get_payload(decode=False)
        lines = raw.splitlines() if isinstance(raw, str) else []
        if cte == "quoted-printable":
            over = [len(line) for line in lines if len(line) > MAX_QP_LINE]
            if over:
                problems.append(
                    Problem(
                        where,
                        None,
                        f"{part.get_content_type()} part",
                        f"{len(over)} quoted-printable line(s) longer than {MAX_QP_LINE} characters (longest "
                        f"{max(over)}; SpamAssassin MIME_QP_LONG_LINE)",
                        "encode with max_line_length=76",
                    )
                )
    return problems


def built_messages(project: Project, days: list[date] | None = None) -> Iterator[tuple[date, str, bytes]]:
    """(day, variant, .eml bytes) for every day and variant, built by the outbox provider in a temp folder —
    the same MIME path a real send takes (the SMTP provider sends these bytes)."""
    from campaign.delivery.sender import identity_for
    from campaign.providers.base import Batch, Recipient
    from campaign.providers.outbox import OutboxProvider
    from campaign.series.links import unsubscribe_url

    identity = identity_for(project)
    domain = parseaddr(project.schedule.campaign.from_)[1].rpartition("@")[2] or "example.org"
    recipient = Recipient(
        1, f"qa@{domain}", QA_ADDRESS_NAME, unsubscribe_url(project.settings.public_url, PREVIEW_TOKEN)
    )
    with tempfile.TemporaryDirectory(prefix="campaign-qa-") as tmp:
        outbox = OutboxProvider(Path(tmp))
        for day in days or project.schedule.dates:
            for variant in variants(project):
                issue = project.render(day, variant)
                batch = Batch(f"qa-{day}-{variant}", issue, (recipient,), identity, sent_at=utcnow())
                outbox.send_batch(batch)
                folder = Path(tmp) / day.isoformat()
                for path in folder.glob("*.eml"):
                    yield day, variant, path.read_bytes()
                    path.unlink()


def _structural() -> Callable[[str, str], list[Problem]] | None:
    """The structural HTML checker `campaign.series.qa.email_qa(html, where=…)`, when that module exists."""
    try:
        from campaign.series import qa
    except ImportError:
        return None
    fn = getattr(qa, "email_qa", None)
    return (lambda html, where: list(fn(html, where=where))) if callable(fn) else None


def _fallback_structure(html: str, where: str) -> list[Problem]:
    found = []
    if not html.lstrip()[:15].lower() == "<!doctype html>":
        found.append(Problem(where, None, "doctype", "the HTML does not start with <!DOCTYPE html>", "keep it"))
    if not re.search(r"<html\b[^>]*\blang=[\"']?[a-z]", html[:4000], re.I):
        found.append(Problem(where, None, "lang", '<html> has no lang="…"', "add it"))
    if len(html.encode()) > MAX_HTML_BYTES:
        found.append(Problem(where, None, "size", f"{len(html.encode()) / 1024:.1f} KB: Gmail clips over ~102 KB", ""))
    return found


def run_email_qa(project: Project, days: list[date] | None = None) -> Report:
    """Every finding once, on the first day and variant that has it, with how many others share it."""
    report = Report()
    structural = _structural() or _fallback_structure
    largest, count = 0, 0
    first: dict[tuple[str, str], Problem] = {}
    others: dict[tuple[str, str], int] = {}
    for day, variant, data in built_messages(project, days):
        count += 1
        where = f"{day} [{variant}]"
        message = parse(data)
        html = html_of(message)
        largest = max(largest, len(html.encode()))
        for problem in structural(html, where) + mime_problems(data, where, message):
            # The same fault on every day: say it once. (Counts and excerpts vary; the field and the
            # wording up to the first digit or quote do not.)
            key = (problem.field, re.split(r"[\d'\"“(]", problem.message, maxsplit=1)[0])
            if key in first:
                others[key] = others.get(key, 0) + 1
            else:
                first[key] = problem
    for key, problem in first.items():
        n = others.get(key, 0)
        if n:
            problem = Problem(
                problem.file,
                problem.line,
                problem.field,
                f"{problem.message} (and {n} more day/variant(s))",
                problem.fix,
            )
        report.error(problem)
    report.ok(
        f"email QA: {count} built messages ({len(days or project.schedule.dates)} days × {len(variants(project))} "
        f"crisis variants); largest HTML {largest / 1024:.1f} KB"
        + ("" if _structural() else "; structural HTML checks: doctype and lang only (campaign.series.qa not found)")
    )
    return report
