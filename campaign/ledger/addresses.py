"""Subscriber addresses and display names: the rules at the edge (import, sign-up) and for the wire.

Addresses (email-validator's normalised forms, no DNS):
- stored as email-validator's `normalized` form, lower-cased: NFC Unicode, the domain in its Unicode form
  (`ana@bücher.de`; `ana@xn--bcher-kva.de` is the same subscriber);
- on the wire (SMTP envelope, To header, every provider API) the domain is its IDNA/punycode form
  (`ana@xn--bcher-kva.de`) — `wire_address`;
- a non-ASCII local part (`josé@example.org`, RFC 6531 "SMTPUTF8") is accepted only when the configured
  transport can deliver it: the outbox, and SMTP (sent with the SMTPUTF8 option, and refused per recipient
  when the server does not advertise it). None of the HTTP providers (Postmark, SendGrid, Mailgun, Resend)
  documents internationalised local parts, so with them such an address is refused at import and sign-up
  with the reason, and — if one is already stored — rejected for that one recipient at send time.

Display names (`clean_name`), applied at import and sign-up and again before any header is built:
- NFC-normalised; every control character (Unicode category Cc: CR, LF, TAB, NUL, U+0085, …), line or
  paragraph separator (Zl, Zp: U+2028, U+2029) and other separator whitespace becomes one space;
  every format character (Cf: zero-width and bidirectional controls, U+FEFF, soft hyphen) is removed;
- runs of spaces collapse to one, ends are trimmed; an empty result means "no name" (greeted "Hi there");
- longer than `MAX_NAME` characters after cleaning: refused (it is not a name).
A name never reaches a header raw: headers are built with `email.headerregistry.Address` (quoted and
RFC 2047-encoded as needed); JSON APIs get the cleaned name as plain UTF-8.
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 200
_SPACE_CATEGORIES = {"Cc", "Zl", "Zp", "Zs"}


def normalise_email(raw: str, *, utf8_local: bool = False) -> str:
    """The stored form of an address; ValueError with the reason when it is invalid or not deliverable by the
    configured transport (`utf8_local`: whether a non-ASCII local part can be sent)."""
    from email_validator import EmailNotValidError, validate_email  # (~30 ms: only where addresses are read)

    value = raw.strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("the email address contains a control or invisible character")
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as err:
        raise ValueError(f"not a valid email address: {err}") from None
    if info.ascii_email is None and not utf8_local:
        raise ValueError(
            f"the email address {info.normalized!r} has a non-ASCII local part (before the @), which the "
            "configured provider cannot deliver; use the subscriber's ASCII address, or send through SMTP "
            "with a server that supports SMTPUTF8"
        )
    return str(info.normalized).lower()


def wire_address(email: str) -> str:
    """`email` with its domain in IDNA (punycode) form, for envelopes, headers and APIs; the local part as is."""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    from email_validator import EmailNotValidError, validate_email

    try:
        ascii_domain = validate_email(f"a@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError as err:
        raise ValueError(f"the domain of {email!r} cannot be encoded for the wire (IDNA): {err}") from None
    return f"{local}@{ascii_domain}"


def wire_problem(email: str) -> str | None:
    """Why a stored address cannot go on the wire as it is (None: it can) — for rows edited by hand."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs") for ch in email):
        return f"the address {email!r} holds a space, control or invisible character"
    if email.count("@") != 1 or not all(email.partition("@")[::2]):
        return f"{email!r} is not an address"
    return None


def has_utf8_local(email: str) -> bool:
    return not email.rpartition("@")[0].isascii()


def clean_name(raw: str | None) -> str | None:
    """The display name by the rule above; None when nothing is left. ValueError when it is too long."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw)
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        out.append(" " if category in _SPACE_CATEGORIES or ch.isspace() else ch)
    name = " ".join("".join(out).split())
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is {len(name)} characters long (at most {MAX_NAME})")
    return name or None
