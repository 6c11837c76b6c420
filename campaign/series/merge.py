"""The one placeholder merge: the per-recipient fields a rendered issue leaves open, and how they are filled.

A rendered issue keeps four placeholders — plain tokens without spaces or braces, so they survive MJML and
premailer's href rewriting:

  __UNSUBSCRIBE_URL__   the recipient's one-click unsubscribe URL (HTML and text)
  __PREFERENCES_URL__   the recipient's "Manage your emails" URL (its own token; where a message has none,
                        e.g. the sign-up confirmation, the unsubscribe URL, whose page offers the pause too)
  __NAME_HTML__         the recipient's name in the HTML part
  __NAME__              the recipient's name in the text part

Either name placeholder is accepted in either part (a customised template may use the other one). Every
consumer goes through `substitute`: the per-message merge (`merge`, used by the outbox, SMTP and the web
archive), and the providers that merge themselves (Postmark and Resend fill slots, SendGrid and Mailgun put
their own substitution keys in). One regular-expression pass per part: a value that happens to contain a
placeholder is never substituted again. Pure: no I/O, importable from every layer above `series`.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

UNSUBSCRIBE_URL = "__UNSUBSCRIBE_URL__"
PREFERENCES_URL = "__PREFERENCES_URL__"
NAME_HTML = "__NAME_HTML__"
NAME_TEXT = "__NAME__"
CONFIRM_URL = "__CONFIRM_URL__"  # the sign-up confirmation's own link (delivery/confirm_mail.py), via fill_link
DEFAULT_NAME = "there"  # "Hi there," when we do not know a name

_PLACEHOLDER = re.compile("|".join(map(re.escape, (UNSUBSCRIBE_URL, PREFERENCES_URL, NAME_HTML, NAME_TEXT))))


@dataclass(frozen=True)
class Fill:
    """What each placeholder becomes, per part (already escaped as that part needs)."""

    unsubscribe_html: str
    name_html: str
    unsubscribe_text: str
    name_text: str
    preferences_html: str | None = None  # None: the unsubscribe URL
    preferences_text: str | None = None


def shown_name(name: str | None) -> str:
    """The name as greeted: the stored name, or "there"."""
    return (name or "").strip() or DEFAULT_NAME


def substitute(html: str, text: str, fill: Fill) -> tuple[str, str]:
    """`html` and `text` with every placeholder replaced by `fill`'s values, in one pass per part."""
    in_html = {UNSUBSCRIBE_URL: fill.unsubscribe_html, NAME_HTML: fill.name_html, NAME_TEXT: fill.name_html}
    in_text = {UNSUBSCRIBE_URL: fill.unsubscribe_text, NAME_HTML: fill.name_text, NAME_TEXT: fill.name_text}
    in_html[PREFERENCES_URL] = fill.unsubscribe_html if fill.preferences_html is None else fill.preferences_html
    in_text[PREFERENCES_URL] = fill.unsubscribe_text if fill.preferences_text is None else fill.preferences_text
    return (
        _PLACEHOLDER.sub(lambda m: in_html[m.group()], html),
        _PLACEHOLDER.sub(lambda m: in_text[m.group()], text),
    )


def recipient_fill(unsubscribe_url: str, name: str | None, preferences_url: str | None = None) -> Fill:
    """One recipient's values: HTML-escaped for the HTML part, as they are for the text part."""
    shown = shown_name(name)
    preferences = preferences_url or unsubscribe_url
    return Fill(
        unsubscribe_html=html_lib.escape(unsubscribe_url, quote=True),
        name_html=html_lib.escape(shown, quote=True),
        unsubscribe_text=unsubscribe_url,
        name_text=shown,
        preferences_html=html_lib.escape(preferences, quote=True),
        preferences_text=preferences,
    )


def fill_link(html: str, text: str, placeholder: str, url: str) -> tuple[str, str]:
    """One message's own link placeholder (`CONFIRM_URL`): HTML-escaped in the HTML part, as it is in the text."""
    return html.replace(placeholder, html_lib.escape(url, quote=True)), text.replace(placeholder, url)


def merge(
    html: str, text: str, *, unsubscribe_url: str, name: str | None, preferences_url: str | None = None
) -> tuple[str, str]:
    """The HTML and text for one recipient."""
    return substitute(html, text, recipient_fill(unsubscribe_url, name, preferences_url))
