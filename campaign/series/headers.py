"""The one rule for text that becomes an email header (subject, From, Reply-To) or the inbox preview line.

Refused, never cleaned: a line break of any kind (CR, LF, U+0085 NEL, U+2028, U+2029), every other control
character (Unicode category Cc: NUL, tab, escape, ...), every format character (Cf: bidi overrides such as
U+202E, zero-width spaces, soft hyphens, the BOM) except U+200D ZERO WIDTH JOINER, which joins emoji
sequences, and lone surrogates (Cs). Such a character either breaks the header (injection, a folded
subject) or shows the reader something other than what the organiser saw.
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

ALLOWED_FORMAT = {"\u200d"}
_NAMES = {
    "\r": "a carriage return (CR)",
    "\n": "a line break (LF)",
    "\u0085": "a NEXT LINE character (U+0085)",
    "\u2028": "a LINE SEPARATOR (U+2028)",
    "\u2029": "a PARAGRAPH SEPARATOR (U+2029)",
    "\t": "a tab",
}


def header_problem(value: str) -> str | None:
    """None when `value` is safe in a header; else what the first unsafe character is and where."""
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if char in _NAMES or category in ("Cc", "Zl", "Zp", "Cs") or (category == "Cf" and char not in ALLOWED_FORMAT):
            name = _NAMES.get(char) or f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"
            return f"{name} at character {index + 1}"
    return None


def one_line(value: str, what: str) -> str:
    raw, value = value, value.strip()
    if "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be one line (found a line break) — put it on one line")
    problem = header_problem(raw.strip(" \n"))  # str.strip() would silently drop U+2028, U+0085, tabs, ...
    if problem:
        raise ValueError(
            f"{what} holds {problem}, which is not allowed in an email header — delete it and retype the text"
        )
    return value


def address(value: str, what: str) -> str:
    value = one_line(value, what)
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", value)
    if "," in unquoted or ";" in unquoted or unquoted.count("<") > 1:
        raise ValueError(
            f"{what} {value!r} holds more than one address — "
            f'give exactly one, e.g. "Name <name@example.org>" (put a name with a comma in double quotes)'
        )
    _, addr = parseaddr(value)
    if not addr:  # parseaddr gives up on e.g. "Org <a@@b>": let the validator say what is wrong
        inner = re.search(r"<([^<>]*)>", value)
        addr = inner.group(1) if inner else value
    try:
        validate_email(addr, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise ValueError(
            f"{what} {value!r} is not a valid email address ({err}) — "
            f'write it as name@example.org or "Name <name@example.org>"'
        ) from None
    return value
