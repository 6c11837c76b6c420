"""Fast JSON payloads: a message (or a provider's shared part) encoded once per issue variant, cut at its
per-recipient slots (`SplitTemplate`); filling it for a recipient is one string join. Slots are NUL-marked
names no content can contain; only the slots a template holds are computed per recipient.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable, Mapping

from campaign.providers.base import Batch, Recipient
from campaign.series.merge import Fill, shown_name, substitute

# The C string encoder behind json.dumps: a str → its JSON literal (with quotes), ASCII only.
_json_string = json.encoder.encode_basestring_ascii


def json_fragment(value: str) -> str:
    """`value` escaped for use *inside* a JSON string literal."""
    return _json_string(value)[1:-1]


class SplitTemplate:
    """Text with named slots, cut once; `fill` is a single join (no scanning of the long literal parts)."""

    def __init__(self, text: str, slots: Iterable[str]):
        self.parts: list[str] = []
        self.positions: list[tuple[int, str]] = []  # (index in parts, slot) of every slot occurrence
        pattern = re.compile("|".join(re.escape(s) for s in sorted(set(slots), key=len, reverse=True)))
        index = 0
        for match in pattern.finditer(text):
            self.parts.append(text[index : match.start()])
            self.positions.append((len(self.parts), match.group()))
            self.parts.append(match.group())
            index = match.end()
        self.parts.append(text[index:])

    def fill(self, values: Mapping[str, str]) -> str:
        parts = self.parts.copy()
        for i, slot in self.positions:
            parts[i] = values[slot]
        return "".join(parts)

    @property
    def slots(self) -> set[str]:
        return {slot for _, slot in self.positions}


def slot(name: str) -> str:
    """A marker no content can contain (NUL); JSON-encoded it reads \\u0000name\\u0000."""
    return f"\x00{name}\x00"


def json_slot(name: str) -> str:
    return json_fragment(slot(name))


def marked_parts(batch: Batch) -> tuple[str, str]:
    """The issue's HTML and text with the render placeholders turned into slots, per part: in HTML the URL and
    name are HTML-escaped, in text they are not (the same substitutions as `RenderedIssue.merge`)."""
    fill = Fill(
        slot("unsubscribe_html"),
        slot("name_html"),
        slot("unsubscribe"),
        slot("name"),
        slot("preferences_html"),
        slot("preferences"),
    )
    return substitute(batch.issue.html, batch.issue.text, fill)


_SLOT_NAMES = (
    "unsubscribe_html",
    "name_html",
    "unsubscribe",
    "name",
    "list_unsubscribe",
    "to",
    "email",
    "display_name",
    "message_id",
    "subscriber_id",
    "preferences_html",
    "preferences",
)
(
    _UNSUBSCRIBE_HTML,
    _NAME_HTML,
    _UNSUBSCRIBE,
    _NAME,
    _LIST_UNSUBSCRIBE,
    _TO,
    _EMAIL,
    _DISPLAY_NAME,
    _MESSAGE_ID,
    _SUBSCRIBER_ID,
    _PREFERENCES_HTML,
    _PREFERENCES,
) = (json_slot(name) for name in _SLOT_NAMES)
_escape_html = html_lib.escape


def _shown(recipient: Recipient) -> str:
    return shown_name(recipient.name)


# slot -> its per-recipient value, escaped for a JSON string. Only the slots a template holds are computed:
# this runs once per recipient, so every microsecond shows at a million subscribers.
_VALUES = {
    _UNSUBSCRIBE_HTML: lambda b, r: json_fragment(_escape_html(r.unsubscribe_url)),
    _NAME_HTML: lambda b, r: json_fragment(_escape_html(_shown(r))),
    _UNSUBSCRIBE: lambda b, r: json_fragment(r.unsubscribe_url),
    _NAME: lambda b, r: json_fragment(_shown(r)),
    _LIST_UNSUBSCRIBE: lambda b, r: json_fragment(f"<{r.unsubscribe_url}>"),
    _TO: lambda b, r: json_fragment(r.address),
    _EMAIL: lambda b, r: json_fragment(r.wire_email),
    _DISPLAY_NAME: lambda b, r: json_fragment(quoted_name(r.name or "")),
    _MESSAGE_ID: lambda b, r: json_fragment(b.message_id(r)),
    _SUBSCRIBER_ID: lambda b, r: str(r.subscriber_id),
    _PREFERENCES_HTML: lambda b, r: json_fragment(_escape_html(r.preferences_url or r.unsubscribe_url)),
    _PREFERENCES: lambda b, r: json_fragment(r.preferences_url or r.unsubscribe_url),
}


def quoted_name(name: str) -> str:
    """A display name for an API that takes it as a separate field (SendGrid's `to[].name`): plain UTF-8, and a
    quoted string when it holds `,` or `;` — SendGrid drops mail whose unquoted name holds them (its docs:
    enclose such names in double quotes); `"` and `\\` inside are escaped."""
    if "," not in name and ";" not in name:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fill_each(template: SplitTemplate, batch: Batch, *, unnamed: SplitTemplate | None = None) -> list[bytes]:
    """The template filled once per recipient of the batch (`unnamed`, if given, for recipients without a
    name), as ASCII JSON. Only the slots the templates hold are computed."""
    slots = template.slots | (unnamed.slots if unnamed else set())
    getters = [(slot, _VALUES[slot]) for slot in slots]
    out = []
    for r in batch.recipients:
        values = {slot: get(batch, r) for slot, get in getters}
        out.append((template if unnamed is None or r.name else unnamed).fill(values).encode("ascii"))
    return out


def json_array(items: list[bytes]) -> bytes:
    """`[a,b,…]` from already-encoded items, with a single whole-body allocation (a Postmark batch is ~10 MB,
    and four of them are in flight: every extra copy is memory and page faults)."""
    if not items:
        return b"[]"
    items[0] = b"[" + items[0]
    items[-1] = items[-1] + b"]"
    return b",".join(items)


def json_template(shape: object) -> SplitTemplate:
    """Encode `shape` (which holds `slot(...)` markers) once and cut it at the markers."""
    text = json.dumps(shape, separators=(",", ":"))
    return SplitTemplate(text, [json_slot(name) for name in _SLOT_NAMES])
