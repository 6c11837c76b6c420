"""Crisis resources by country, and the structural safety checks every rendered issue must pass.

Crisis numbers come only from content/crisis_resources.yaml, itself built from the shared reference; a
country without a verified row gets the international fallback. Nothing here invents a number.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from campaign.errors import ContentError, Problem, RenderError

HOPE_PHRASES = ("help is available", "treatment works", "you are not alone")
STALE_AFTER = timedelta(days=365)


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    how: str = Field(min_length=1)
    phone: str | None = Field(default=None, pattern=r"^\d+$")
    sms: str | None = Field(default=None, pattern=r"^\d+$")
    sms_body: str | None = None
    url: str | None = Field(default=None, pattern=r"^https://")
    source: str = Field(min_length=1)
    verified_on: date


class Country(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    emergency: str
    services: tuple[Service, ...] = Field(min_length=1)


class International(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    emergency: str
    services: tuple[Service, ...] = Field(min_length=1)


class CrisisResources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    countries: dict[str, Country]
    international: International

    def variant_for(self, country: str | None, default_country: str) -> str:
        """The render variant a subscriber gets: their country's block, the default country's block when
        they have none, or the international block alone for a country without a verified row."""
        code = (country or default_country or "").upper()
        return code if code in self.countries else "INTL"

    def block(self, variant: str) -> CrisisBlock:
        country = self.countries.get(variant)
        return CrisisBlock(variant, country, self.international)

    def urls(self) -> frozenset[str]:
        """Every service URL of every country and the international block: never rewritten or counted."""
        services = [s for c in self.countries.values() for s in c.services] + list(self.international.services)
        return frozenset(s.url for s in services if s.url) | {"https://findahelpline.com"}

    def stale(self, today: date) -> list[str]:
        out = []
        for code, country in self.countries.items():
            for s in country.services:
                if today - s.verified_on > STALE_AFTER:
                    out.append(f"{code} {s.name} (verified {s.verified_on}, source {s.source})")
        for s in self.international.services:
            if today - s.verified_on > STALE_AFTER:
                out.append(f"international {s.name} (verified {s.verified_on}, source {s.source})")
        return out


@dataclass(frozen=True)
class CrisisBlock:
    """What the crisis partials render: the country's services (if any) plus the international line."""

    variant: str
    country: Country | None
    international: International

    @property
    def emergency(self) -> str:
        return self.country.emergency if self.country else self.international.emergency

    def required_texts(self) -> list[str]:
        """Strings that must appear in both parts of an issue of this variant (R1, R2)."""
        texts = [self.emergency]
        services = list(self.country.services if self.country else ()) + list(self.international.services)
        for s in services:
            texts.append(s.name)
        texts.append("findahelpline.com")
        return texts


def load_crisis_resources(path: Path) -> CrisisResources:
    from campaign.series.files import MAX_CRISIS, file_problem
    from campaign.series.yamlsource import load_yaml

    name = f"content/{path.name}"
    text, problem = file_problem(
        path,
        name,
        max_bytes=MAX_CRISIS,
        fix_missing="restore content/crisis_resources.yaml from the shared reference",
    )
    if problem is not None:
        raise ContentError(problem)
    doc = load_yaml(text, name)
    if doc.problems:
        raise ContentError(doc.problems)
    try:
        return CrisisResources.model_validate(doc.data)
    except ValidationError as err:
        raise ContentError(
            [
                Problem(
                    name,
                    doc.line_of(tuple(str(p) for p in e["loc"])),
                    ".".join(str(p) for p in e["loc"]),
                    e["msg"].removeprefix("Value error, "),
                    "every service needs name, how, source and verified_on; numbers are digits only",
                )
                for e in err.errors()
            ]
        ) from None


# -- verification of rendered output -----------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_STYLE = re.compile(r"<(style|title)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def visible_text(markup: str) -> str:
    """Readable text of an HTML document, whitespace collapsed (for presence checks, not for the text part)."""
    markup = _COMMENT.sub(" ", _STYLE.sub(" ", markup))
    return " ".join(html_lib.unescape(_TAG.sub(" ", markup)).split())


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def verify_issue(
    *,
    html: str,
    text: str,
    block: CrisisBlock,
    disclaimer: str,
    postal_address: str,
    optout_marker: str,
    where: str,
    max_html_bytes: int,
) -> None:
    """Refuse an issue that lacks any required element in either part (R1–R4, CAN-SPAM, RFC 8058 body link)."""
    problems = []
    parts = {"HTML": _norm(visible_text(html)), "text": _norm(text)}
    checks = [(t, "crisis block") for t in block.required_texts()]
    checks += [(disclaimer, "medical disclaimer"), (postal_address, "postal address")]
    for needle, what in checks:
        for part_name, haystack in parts.items():
            if _norm(needle) not in haystack:
                problems.append(
                    Problem(
                        where,
                        None,
                        f"{part_name} part",
                        f"the {what} is missing ({needle[:60]!r} not found)",
                        "restore templates/partials/ (crisis, disclaimer, footer): the pipeline "
                        "appends them to every issue and refuses output without them",
                    )
                )
    for part_name, haystack in parts.items():
        if not any(p in haystack for p in HOPE_PHRASES):
            problems.append(
                Problem(
                    where,
                    None,
                    f"{part_name} part",
                    "no line of hope and help-seeking",
                    f"keep one of: {', '.join(HOPE_PHRASES)} in the crisis partial",
                )
            )
    if optout_marker not in html or optout_marker not in text:
        problems.append(
            Problem(
                where,
                None,
                "footer",
                "the visible unsubscribe (or sign-up) link is missing",
                "restore templates/partials/footer.*.j2",
            )
        )
    if "@media" not in html:
        problems.append(
            Problem(
                where,
                None,
                "HTML part",
                "no @media rules survived CSS inlining",
                "keep the <mj-style> blocks in templates/base.mjml.j2",
            )
        )
    size = len(html.encode("utf-8"))
    if size > max_html_bytes:
        problems.append(
            Problem(
                where,
                None,
                "HTML part",
                f"the HTML is {size // 1024} KB; Gmail clips messages "
                f"over 102 KB, hiding the crisis block and unsubscribe link",
                "shorten the day's part or the templates",
            )
        )
    if not problems:
        problems += visibility_problems(html, block=block, disclaimer=disclaimer, where=where)
    if problems:
        raise RenderError(problems)


# -- the safety blocks must be *visible* (issue 8 #7) ------------------------------------------------

MIN_FONT_PX = 12.0
MIN_CONTRAST = 4.5  # WCAG AA for body text: "too close to the background" below this
_HIDDEN_TAGS = {"head", "title", "script", "style", "template", "noscript", "textarea", "select", "option"}


def _declared(el) -> list[str]:
    """The styles on `el` itself that hide it or cut it to nothing (as written, for the message)."""
    from campaign.series.css import element_style, length_px

    style = element_style(el)
    found = []
    if el.tag in _HIDDEN_TAGS:
        found.append(f"<{el.tag}> element")
    if el.get("hidden") is not None:
        found.append("hidden attribute")
    if (el.get("aria-hidden") or "").strip().lower() == "true":
        found.append('aria-hidden="true"')
    if style.get("display", "").lower() == "none":
        found.append("display:none")
    if style.get("visibility", "").lower() in ("hidden", "collapse"):
        found.append(f"visibility:{style['visibility']}")
    if "mso-hide" in style and style["mso-hide"].lower() != "none":
        found.append(f"mso-hide:{style['mso-hide']}")
    opacity = style.get("opacity", "").strip()
    try:
        if opacity and float(opacity.rstrip("%")) / (100 if opacity.endswith("%") else 1) < 0.5:
            found.append(f"opacity:{opacity}")
    except ValueError:
        pass
    overflow = " ".join(style.get(k, "") for k in ("overflow", "overflow-x", "overflow-y")).lower()
    if "hidden" in overflow or "clip" in overflow:
        for key, floor in (("height", 40), ("max-height", 40), ("width", 100), ("max-width", 100)):
            px = length_px(style.get(key))
            if px is not None and px < floor:
                found.append(f"{key}:{style[key]} with overflow:hidden")
    indent = length_px(style.get("text-indent"))
    if indent is not None and indent <= -100:
        found.append(f"text-indent:{style['text-indent']}")
    if style.get("position", "").lower() in ("absolute", "fixed"):
        for key in ("left", "top", "right", "bottom"):
            px = length_px(style.get(key))
            if px is not None and px <= -100:
                found.append(f"position:{style['position']}; {key}:{style[key]}")
    if re.search(r"rect\(\s*0", style.get("clip", "")) or re.search(
        r"inset\(\s*50%|circle\(\s*0", style.get("clip-path", "")
    ):
        found.append("clip")
    if re.search(r"scale[xy]?\(\s*0(?:\.0*)?\s*[,)]", style.get("transform", "")):
        found.append(f"transform:{style['transform']}")
    return found


def _describe(el) -> str:
    attrs = "".join(f' {k}="{el.get(k)}"' for k in ("class", "role") if el.get(k))
    return f"<{el.tag}{attrs}>"


def _hiding(container, cache: dict) -> list[str]:
    """Why `container` (the crisis block or the disclaimer) is not plainly visible; [] when it is."""
    from campaign.series.css import computed, contrast, hex_of, own_text_holders

    reasons = []
    for el in [container, *container.iterancestors()]:
        reasons += [f"{style} on {_describe(el)}" for style in _declared(el)]
    for el in container.iterdescendants():
        if isinstance(el.tag, str) and (el.text_content() or "").strip():
            reasons += [f"{style} on {_describe(el)} inside it" for style in _declared(el)]
    for el in own_text_holders(container):
        seen = computed(el, cache)
        if seen.font_px < MIN_FONT_PX:
            reasons.append(f"font-size {seen.font_px:g}px (under {MIN_FONT_PX:g}px) on {_describe(el)}")
        ratio = contrast(seen.color, seen.background)
        if ratio < MIN_CONTRAST:
            reasons.append(
                f"colour {hex_of(seen.color)} on background {hex_of(seen.background)} "
                f"(contrast {ratio:.1f}:1, needs {MIN_CONTRAST}:1) on {_describe(el)}"
            )
        if seen.opacity < 0.5:
            reasons.append(f"opacity {seen.opacity:.2g} (after its ancestors) on {_describe(el)}")
    return list(dict.fromkeys(reasons))


def _smallest_containing(el, needles: list[str]) -> list:
    """The deepest elements whose text holds every needle (normalised); a copy per place it appears."""
    out = []
    for child in el:
        if isinstance(child.tag, str) and all(n in _norm(child.text_content()) for n in needles):
            out.extend(_smallest_containing(child, needles))
    return out or [el]


def visibility_problems(html: str, *, block: CrisisBlock, disclaimer: str, where: str) -> list[Problem]:
    """The crisis block and the disclaimer, found by their text in the final (inlined) HTML, must carry no
    style that hides or shrinks them — on themselves, an ancestor or a descendant holding their text."""
    from campaign.series.css import parse_document

    try:
        root = parse_document(html)
    except Exception as err:  # lxml raises ParserError / ValueError on markup it cannot read
        return [Problem(where, None, "HTML part", f"the HTML cannot be parsed ({err})", "check the templates")]
    body = root.find("body")
    if body is None:
        body = root
    cache: dict = {}
    problems = []
    for what, needles, partial in (
        ("crisis block", [_norm(t) for t in block.required_texts()], "templates/partials/crisis.mjml.j2"),
        ("medical disclaimer", [_norm(disclaimer)], "templates/partials/disclaimer.mjml.j2"),
    ):
        if not all(n in _norm(body.text_content()) for n in needles):
            continue  # reported as missing by verify_issue
        candidates = _smallest_containing(body, needles)
        verdicts = [_hiding(c, cache) for c in candidates]
        if all(verdicts):
            problems.append(
                Problem(
                    where,
                    None,
                    what,
                    f"the {what} is hidden or unreadable: {'; '.join(verdicts[0][:4])}",
                    f"remove that style from the templates ({partial}, templates/base.mjml.j2 and the layout "
                    f"around it): the {what} must be plainly visible, at least {MIN_FONT_PX:g}px, "
                    f"with contrast of {MIN_CONTRAST}:1 or more",
                )
            )
    return problems
