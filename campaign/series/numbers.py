"""N1: phone and text numbers in subscriber-facing text must come from the verified crisis list.

Any phone or SMS number in a subject, preheader, note, the article or a template's own text that is not in
content/crisis_resources.yaml is an error that cannot be acknowledged (issue 10 #5): an invented or
outdated helpline number in a suicide-prevention email can cost a life.
"""

from __future__ import annotations

import re

from campaign.series.lint import RULES, LintHit
from campaign.series.lint_rules import excerpt

# A run of digits joined by single spaces, hyphens, dots or brackets ("1-800-555-0199", "(555) 123 4567",
# "+44 20 7946 0958", "116 123", "741741"), not part of a word, a decimal, a time, a date or a 1,000s number.
_NUMBER = re.compile(r"(?<![\w.,:/#%$£€-])\+?\(?\d(?:[\d]|[ .\-()]\(?(?=\d)|\)[ .\-]?(?=\d))*(?![\w%]|[.,:/]\d)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PHONE_CONTEXT = re.compile(
    r"\b(?:call\w*|text\w*|dial\w*|phone\w*|sms|ring\w*|tel|telephone|hotline|helpline|line|number|"
    r"contact|reach|whatsapp|fax|toll[- ]free|free\s?phone)(?!-)\W+(?:\w+\W+){0,3}$",
    re.IGNORECASE,
)


def phone_numbers(text: str, *, context: bool = True) -> list[tuple[int, int, str]]:
    """(start, end, digits) of each phone-like number: 7+ digits, or 3+ digits after "call", "text", "dial"
    and the like (context=False: every run of 3+ digits, for reading the verified list itself)."""
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group(0).strip(" .-(")
        digits = re.sub(r"\D", "", raw)
        if len(digits) < 3 or _ISO_DATE.match(raw):
            continue
        if (
            len(digits) >= 7
            or not context
            or "." not in raw
            and _PHONE_CONTEXT.search(text[max(0, m.start() - 60) : m.start()])
        ):
            out.append((m.start(), m.start() + len(m.group(0).rstrip(" .-(")), digits))
    return out


def verified_digits(strings) -> frozenset[str]:
    """Every number in the verified crisis list (phones, SMS numbers, emergency numbers, wordings)."""
    found: set[str] = set()
    for value in strings:
        if value:
            found.update(d for _, _, d in phone_numbers(str(value), context=False))
            found.update(re.findall(r"\d{3,}", str(value)))
    return frozenset(found)


def _known(digits: str, verified: frozenset[str]) -> bool:
    candidates = {digits, digits.lstrip("0")}
    if digits.startswith("1") and len(digits) == 11:  # NANP: 1-800-… and 800-… are the same number
        candidates.add(digits[1:])
    candidates |= {"1" + d for d in list(candidates) if len(d) == 10}
    return bool(candidates & verified)


def unverified_numbers(text: str, verified: frozenset[str], *, markup: bool = False) -> list[LintHit]:
    """N1 hits. markup=True (template text): CSS and tags are dropped first, but tel:/sms: links count."""
    level, title, advice = RULES["N1"]
    spans, original = [], text
    if markup:
        for m in re.finditer(r"(?:tel|sms|callto):\s*([+\d][\d\s().\-]*)", text, re.IGNORECASE):
            digits = re.sub(r"\D", "", m.group(1))
            if digits:
                spans.append((m.start(), m.end(), digits))
        text = re.sub(
            r"<(mj-style|style)\b.*?</\1\s*>", lambda m: " " * len(m.group(0)), text, flags=re.S | re.IGNORECASE
        )
        text = re.sub(r"<[^>]*>", lambda m: " " * len(m.group(0)), text)
    spans += phone_numbers(text)
    return [
        LintHit("N1", level, f"{title}: {original[s:e]!r}", excerpt(original, s, e), advice)
        for s, e, digits in spans
        if not _known(digits, verified)
    ]
