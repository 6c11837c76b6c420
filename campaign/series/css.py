"""Just enough CSS to judge an inlined email: parse `style=""`, colours, contrast, computed font size.

After premailer every style that matters is inline, so a structural check walks the lxml tree from the root
to an element and folds the inline declarations (and the few presentational attributes premailer and MJML
write: bgcolor, color on <font>) into the values a reader's mail client would compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import html as lxml_html

NAMED = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "yellow": (255, 255, 0),
    "navy": (0, 0, 128),
    "teal": (0, 128, 128),
    "maroon": (128, 0, 0),
    "whitesmoke": (245, 245, 245),
    "ivory": (255, 255, 240),
    "beige": (245, 245, 220),
    "snow": (255, 250, 250),
    "linen": (250, 240, 230),
}
Color = tuple[int, int, int]
TRANSPARENT = "transparent"

_HEX = re.compile(r"#([0-9a-f]{3,8})\b", re.I)
_RGB = re.compile(r"rgba?\(\s*([\d.]+)%?\s*[, ]\s*([\d.]+)%?\s*[, ]\s*([\d.]+)%?\s*(?:[,/]\s*([\d.]+%?))?\s*\)", re.I)


def parse_style(value: str | None) -> dict[str, str]:
    """`a: b; c: d` → {"a": "b", "c": "d"}, lower-cased names, later declarations win, !important dropped."""
    out: dict[str, str] = {}
    for decl in re.sub(r"/\*.*?\*/", "", value or "", flags=re.S).split(";"):
        name, sep, val = decl.partition(":")
        if sep and name.strip():
            out[name.strip().lower()] = re.sub(r"\s*!\s*important\s*$", "", val.strip(), flags=re.I).strip()
    return out


def parse_color(value: str | None) -> Color | str | None:
    """A colour as RGB, "transparent" for a fully transparent one, or None when unknown / not a colour."""
    if not value:
        return None
    text = value.strip().lower()
    if text == TRANSPARENT:
        return TRANSPARENT
    m = _HEX.search(text)
    if m:
        digits = m.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8):
            return None
        if len(digits) == 8 and int(digits[6:8], 16) == 0:
            return TRANSPARENT
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    m = _RGB.search(text)
    if m:
        alpha = m.group(4)
        if alpha is not None:
            a = float(alpha.rstrip("%")) / (100 if alpha.endswith("%") else 1)
            if a == 0:
                return TRANSPARENT
        return tuple(min(255, int(float(m.group(i)))) for i in (1, 2, 3))  # type: ignore[return-value]
    for word in re.findall(r"[a-z]+", text):
        if word in NAMED:
            return NAMED[word]
    return None


def luminance(rgb: Color) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Color, b: Color) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hex_of(rgb: Color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


_LENGTH = re.compile(r"^(-?[\d.]+)\s*(px|pt|em|rem|%|ex|pc|in|cm|mm|q|vw|vh)?$", re.I)
_KEYWORD_SIZES = {
    "xx-small": 9.0,
    "x-small": 10.0,
    "small": 13.0,
    "medium": 16.0,
    "large": 18.0,
    "x-large": 24.0,
    "xx-large": 32.0,
    "smaller": -1.0,
    "larger": -2.0,
}


def length_px(value: str | None, parent_px: float = 16.0) -> float | None:
    """A CSS length in px (em and % relative to `parent_px`), or None when it is not a plain length."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in _KEYWORD_SIZES:
        size = _KEYWORD_SIZES[text]
        return parent_px / 1.2 if size == -1.0 else parent_px * 1.2 if size == -2.0 else size
    m = _LENGTH.match(text)
    if not m:
        return None
    try:
        number = float(m.group(1))
    except ValueError:
        return None
    unit = (m.group(2) or "px").lower()
    factor = {
        "px": 1.0,
        "pt": 4 / 3,
        "pc": 16.0,
        "in": 96.0,
        "cm": 96 / 2.54,
        "mm": 96 / 25.4,
        "q": 96 / 101.6,
        "em": parent_px,
        "rem": 16.0,
        "ex": parent_px / 2,
        "%": parent_px / 100,
        "vw": 3.75,  # a 375 px phone: the narrowest screen we design for
        "vh": 6.67,
    }[unit]
    return number * factor


@dataclass(frozen=True)
class Computed:
    """What a reader sees of one element, from the inline styles of it and its ancestors."""

    font_px: float
    color: Color
    background: Color
    opacity: float


def element_style(el) -> dict[str, str]:
    """The inline declarations of `el`, plus the presentational attributes that act like them."""
    style = parse_style(el.get("style"))
    if el.get("bgcolor") and "background-color" not in style and "background" not in style:
        style["background-color"] = el.get("bgcolor")
    if el.tag == "font":
        if el.get("color") and "color" not in style:
            style["color"] = el.get("color")
    return style


def background_of(style: dict[str, str]) -> Color | str | None:
    for key in ("background-color", "background"):
        if key in style:
            found = parse_color(style[key])
            if found is not None:
                return found
    return None


def computed(el, cache: dict | None = None, overrides: dict | None = None) -> Computed:
    """Inherited font size, colour, opacity (multiplied) and the nearest opaque background of `el`.
    `overrides`: element → declarations that beat its inline style (a dark-mode `!important` rule)."""
    if cache is not None and el in cache:
        return cache[el]
    parent = el.getparent()
    base = computed(parent, cache, overrides) if parent is not None else Computed(16.0, (0, 0, 0), (255, 255, 255), 1.0)
    style = element_style(el)
    if overrides and el in overrides:
        extra = overrides[el]
        if "background" in extra or "background-color" in extra:
            style.pop("background", None)
            style.pop("background-color", None)
        style.update(extra)
    font = length_px(style.get("font-size"), base.font_px)
    color = parse_color(style.get("color"))
    bg = background_of(style)
    raw_opacity = style.get("opacity", "1").strip()
    try:
        opacity = float(raw_opacity.rstrip("%")) / (100 if raw_opacity.endswith("%") else 1)
    except ValueError:
        opacity = 1.0
    opacity = max(0.0, min(1.0, opacity))
    result = Computed(
        font_px=base.font_px if font is None or font < 0 else font,
        color=base.color if color is None else (base.background if color == TRANSPARENT else color),  # type: ignore[arg-type]
        background=base.background if bg is None or bg == TRANSPARENT else bg,  # type: ignore[arg-type]
        opacity=base.opacity * opacity,
    )
    if cache is not None:
        cache[el] = result
    return result


def parse_document(markup: str):
    """The lxml tree of an HTML document (a real parser: comments, CDATA and entities handled)."""
    return lxml_html.document_fromstring(markup)


def own_text_holders(root) -> list:
    """Elements in `root`'s subtree that directly hold visible (non-blank) text: the element's own text, or
    a child's tail (which the element styles)."""
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if (el.text or "").strip() or any((child.tail or "").strip() for child in el):
            out.append(el)
    return out
