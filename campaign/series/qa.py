"""Structural email QA on the final HTML (issue 10 #2): what real checkers and inboxes penalise.

`email_qa(html)` returns a `Problem` per finding (empty when the email passes). It is pure and offline, for
`campaign check` and the tests; the HTML is the rendered issue, merged or not (the unsubscribe placeholder
and __CONFIRM_URL__ count as the https links they become). Checks:

- a `<!DOCTYPE html>` first (no quirks mode) and `<html lang="…">`;
- under `MAX_BYTES` (Gmail clips at about 102 KB, hiding the crisis block and the unsubscribe link);
- every link absolute and well-formed: https://host/…, tel:, sms: or mailto:;
- every image with an `alt`;
- a hidden preheader, hidden by display:none (+ mso-hide:all, max-height:0) and never by colour or
  tiny-text tricks (SpamAssassin's HTML_FONT_LOW_CONTRAST), then filler (&zwnj;&nbsp;…) so the preview
  does not run on into the body;
- a dark theme (`@media (prefers-color-scheme: dark)`) that repaints every light background — outer
  wrapper, header strip, card, footer — and text contrast of at least 4.5:1 (3:1 for 24 px and larger)
  for every visible text element, links included, in light *and* dark mode.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from campaign.errors import Problem
from campaign.series.css import (
    background_of,
    computed,
    contrast,
    element_style,
    hex_of,
    luminance,
    own_text_holders,
    parse_document,
    parse_style,
)

MAX_BYTES = 100 * 1024
MIN_CONTRAST, MIN_CONTRAST_LARGE = 4.5, 3.0
MIN_FILLER = 30  # zero-width / no-break characters after the preheader text
PLACEHOLDER = re.compile(r"__[A-Z][A-Z_]*__")  # a merge token (__UNSUBSCRIBE_URL__, __CONFIRM_URL__): https once merged
_FILLER = "\u200c\u00a0\u034f\u2007\u200b\ufeff\u00ad "
_WHERE = "email HTML"


def _p(field: str, message: str, fix: str, where: str) -> Problem:
    return Problem(where, None, field, message, fix)


def _describe(el) -> str:
    cls = f' class="{el.get("class")}"' if el.get("class") else ""
    text = " ".join((el.text_content() or "").split())[:40]
    return f"<{el.tag}{cls}> “{text}”"


def _link_problem(href: str) -> str | None:
    href = href.strip()
    if PLACEHOLDER.fullmatch(href):
        return None
    scheme = href.split(":", 1)[0].lower() if ":" in href else ""
    if scheme == "https":
        try:
            parts = urlsplit(href)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as err:
            return f"malformed URL ({err})"
        if not parts.hostname or "." not in parts.hostname or re.search(r"[\s<>\"]", href):
            return "not a well-formed https URL"
        return None
    if scheme in ("tel", "sms"):
        number = href.split(":", 1)[1].split("?", 1)[0]
        return None if re.fullmatch(r"\+?\d{2,15}", number) else f"{scheme}: needs digits only"
    if scheme == "mailto":
        return None if re.fullmatch(r"mailto:[^@\s<>]+@[^@\s<>]+\.[^@\s<>?]+(\?.*)?", href, re.I) else "bad mailto:"
    return "not an absolute https, tel:, sms: or mailto: link"


def _hidden(el, cache: dict | None = None) -> bool:
    """display:none on `el` or an ancestor (or inside <head>/<style>/...): not seen, so not judged."""
    if cache is not None and el in cache:
        return cache[el]
    style = element_style(el)
    parent = el.getparent()
    result = (
        style.get("display", "").lower() == "none"
        or el.tag in ("head", "style", "title", "script")
        or (parent is not None and _hidden(parent, cache))
    )
    if cache is not None:
        cache[el] = result
    return result


def _dark_rules(root) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) of every rule inside an @media (prefers-color-scheme: dark) block."""
    rules = []
    for style in root.iter("style"):
        css = re.sub(r"/\*.*?\*/", "", style.text or "", flags=re.S)
        for m in re.finditer(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*\{", css, re.I):
            depth, i = 1, m.end()
            while i < len(css) and depth:
                depth += {"{": 1, "}": -1}.get(css[i], 0)
                i += 1
            for rule in re.finditer(r"([^{}]+)\{([^{}]*)\}", css[m.end() : i - 1]):
                for selector in rule.group(1).split(","):
                    if selector.strip():
                        rules.append((selector.strip(), parse_style(rule.group(2))))
    return rules


def _dark_overrides(root, rules) -> dict:
    """element → the dark declarations that apply to it (by specificity, then order)."""
    from cssselect import GenericTranslator, SelectorError, parse

    matched: dict = {}
    for order, (selector, decls) in enumerate(rules):
        try:
            spec = max(s.specificity() for s in parse(selector))
            xpath = GenericTranslator().css_to_xpath(selector)
        except (SelectorError, ValueError):
            continue
        for el in root.xpath(xpath):
            matched.setdefault(el, []).append((spec, order, decls))
    out = {}
    for el, found in matched.items():
        merged: dict[str, str] = {}
        for _spec, _order, decls in sorted(found, key=lambda x: (x[0], x[1])):
            merged.update(decls)
        out[el] = merged
    return out


def email_qa(html: str, *, where: str = _WHERE) -> list[Problem]:
    problems: list[Problem] = []
    if not html.lstrip()[:15].lower() == "<!doctype html>":
        problems.append(_p("doctype", "the HTML does not start with <!DOCTYPE html>", "keep the doctype", where))
    size = len(html.encode("utf-8"))
    if size >= MAX_BYTES:
        problems.append(
            _p("size", f"the HTML is {size / 1024:.0f} KB (limit {MAX_BYTES // 1024} KB)", "shorten the day", where)
        )
    try:
        root = parse_document(html)
    except Exception as err:  # lxml: ParserError / ValueError on markup it cannot read
        return problems + [_p("HTML", f"the HTML cannot be parsed ({err})", "check the templates", where)]
    if not (root.get("lang") or "").strip():
        problems.append(_p("lang", '<html> has no lang="…"', 'keep <mjml lang="en"> in base.mjml.j2', where))
    for a in root.iter("a", "area"):
        if a.get("href") is None:
            continue
        why = _link_problem(a.get("href"))
        if why:
            problems.append(
                _p("link", f"{a.get('href')[:80]!r}: {why}", "use absolute https (or tel:/sms:/mailto:)", where)
            )
    for img in root.iter("img"):
        if img.get("alt") is None:
            problems.append(_p("image", f"<img src={img.get('src')!r}> has no alt", 'add alt="…" (or alt="")', where))
    problems += _preheader_problems(root, where)
    problems += _contrast_problems(root, where)
    return problems


def _preheader_problems(root, where: str) -> list[Problem]:
    body = root.find("body")
    first = next((el for el in (body.iter() if body is not None else []) if _hidden(el) and el.tag == "div"), None)
    if first is None or not (first.text_content() or "").strip(_FILLER + "\n\t"):
        return [_p("preheader", "no hidden preheader", "keep the preheader <div> at the top of base.mjml.j2", where)]
    style = element_style(first)
    out = []
    if "mso-hide" not in style:
        out.append(_p("preheader", "the preheader lacks mso-hide:all (Outlook shows it)", "add mso-hide:all", where))
    tricks = [k for k in ("color", "font-size", "opacity", "line-height") if k in style]
    if tricks:
        out.append(
            _p(
                "preheader",
                f"the preheader is hidden with {', '.join(tricks)} (spam filters score low-contrast or tiny text)",
                "hide it with display:none, max-height:0, overflow:hidden and mso-hide:all only",
                where,
            )
        )
    text = first.text_content() or ""
    filler = len(text) - len(text.rstrip(_FILLER))
    if filler < MIN_FILLER:
        out.append(
            _p(
                "preheader",
                f"the preheader is followed by {filler} filler characters (at least {MIN_FILLER} needed)",
                "append &zwnj;&nbsp; repeated, so the inbox preview does not run on into the body",
                where,
            )
        )
    return out


def _contrast_problems(root, where: str) -> list[Problem]:
    rules = _dark_rules(root)
    out: list[Problem] = []
    if not rules:
        return [_p("dark mode", "no @media (prefers-color-scheme: dark) rules", "keep the dark theme", where)]
    dark = _dark_overrides(root, rules)
    light_cache: dict = {}
    dark_cache: dict = {}
    hidden: dict = {}
    body = root.find("body")
    for el in (body if body is not None else root).iter():
        if not isinstance(el.tag, str) or _hidden(el, hidden):
            continue
        bg = background_of(element_style(el))
        if isinstance(bg, tuple) and luminance(bg) > 0.4:
            seen = computed(el, dark_cache, dark)
            if luminance(seen.background) > 0.4:
                out.append(
                    _p(
                        "dark mode",
                        f"{_describe(el)} keeps its light background {hex_of(bg)} in dark mode",
                        "give it a class and a background in the prefers-color-scheme: dark block",
                        where,
                    )
                )
    for el in own_text_holders(body if body is not None else root):
        if _hidden(el, hidden):
            continue
        for mode, cache, overrides in (("light", light_cache, None), ("dark", dark_cache, dark)):
            seen = computed(el, cache, overrides)
            need = MIN_CONTRAST_LARGE if seen.font_px >= 24 else MIN_CONTRAST
            ratio = contrast(seen.color, seen.background)
            if ratio < need:
                out.append(
                    _p(
                        f"contrast ({mode})",
                        f"{_describe(el)}: {hex_of(seen.color)} on {hex_of(seen.background)} is {ratio:.1f}:1 "
                        f"(needs {need}:1)",
                        "darken the text or lighten the background (or the reverse in dark mode)",
                        where,
                    )
                )
    return out


def series_email_qa(project, *, merged_url: str | None = None) -> list[Problem]:
    """`email_qa` over what the series will send: every day in the default crisis variant, and the first
    day in every other variant (the templates are shared, so that covers each variant's crisis block).
    Each problem's file names the day and variant. For `campaign check`; about 0.1 s per render."""
    problems: list[Problem] = []
    variants = [project.default_variant] + sorted(
        v for v in [*project.crisis.countries, "INTL"] if v != project.default_variant
    )
    jobs = [(day, variants[0]) for day in project.schedule.dates]
    jobs += [(project.schedule.dates[0], v) for v in variants[1:]]
    for day, variant in jobs:
        issue = project.render(day, variant)
        html = issue.html
        if merged_url is not None:
            html, _ = issue.merge(unsubscribe_url=merged_url, name=None)
        problems += email_qa(html, where=f"issue {day} ({variant})")
    return problems
