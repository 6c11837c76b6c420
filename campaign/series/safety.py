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

import yaml
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
    name = f"content/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(
            Problem(name, None, "", "file not found", "restore content/crisis_resources.yaml from the shared reference")
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ContentError(
            Problem(name, mark.line + 1 if mark else None, "", f"YAML syntax error: {err}", "fix the file")
        ) from None
    try:
        return CrisisResources.model_validate(data)
    except ValidationError as err:
        raise ContentError(
            [
                Problem(
                    name,
                    None,
                    ".".join(str(p) for p in e["loc"]),
                    e["msg"],
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
    if problems:
        raise RenderError(problems)
