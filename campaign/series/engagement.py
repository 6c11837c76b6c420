"""Engagement counted without following anyone (`engagement: aggregate` in schedule.yaml; default `off`).

With `aggregate`, a day's email links to the article and to the archive through `/r/<day>/<link-id>`: the
same URL for every reader of that day (no subscriber id, no address), which the web app counts for that day
and link and redirects (web/engagement.py). With `opens: aggregate`, one pixel per day and variant
(`/o/<day>/<variant>.gif`), again the same for every reader. Never rewritten:
- crisis links: `tel:`, `sms:`, and every URL of content/crisis_resources.yaml (a click on a crisis line is
  health data: it is not counted, not even in aggregate);
- the per-reader placeholders (unsubscribe, preferences) and `mailto:` links;
- links to other sites that are not in the article itself.
With `off`, the render is untouched: no pixel, no redirect, nothing but the unsubscribe and preferences tokens.

Pure: the rewrite runs once per rendered (day, variant), like the rest of the pipeline.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from collections.abc import Collection
from datetime import date

from campaign.series.parts import URL_DAY, url_name

_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+")
LINK_ID = re.compile(r"[a-z0-9-]{1,40}")


def link_id(url: str, public_url: str) -> str:
    """A short, stable, readable id for a link of a day's email: `archive` (that day's page), `archive-index`,
    or `l-<hash>` for a link of the article (the hash of its URL)."""
    archive = f"{public_url}/archive/"
    if url == archive.rstrip("/") or url == archive:
        return "archive-index"
    if url.startswith(archive) and URL_DAY.fullmatch(url[len(archive) :]):
        return "archive"
    return "l-" + hashlib.sha256(url.encode()).hexdigest()[:10]


def redirect_url(public_url: str, day: date, link: str) -> str:
    return f"{public_url}/r/{url_name(day)}/{link}"


def pixel_url(public_url: str, day: date, variant: str) -> str:
    return f"{public_url}/o/{url_name(day)}/{variant}.gif"


def _never(url: str, crisis_urls: Collection[str]) -> bool:
    lowered = url.lower()
    if not lowered.startswith(("https://", "http://")) or "__" in url:  # tel:, sms:, mailto:, placeholders
        return True
    bare = lowered.rstrip("/")
    return any(bare == c.lower().rstrip("/") or lowered.startswith(c.lower().rstrip("/") + "/") for c in crisis_urls)


def trackable(url: str, *, public_url: str, article_urls: Collection[str], crisis_urls: Collection[str]) -> bool:
    """A link counted per day: our archive, or a link that is in the article — never a crisis link."""
    if _never(url, crisis_urls):
        return False
    return url.startswith(f"{public_url}/archive/") or (url in article_urls and url.startswith("https://"))


def article_links(part_html: str) -> set[str]:
    """The URLs the article's part links to (as they appear in the rendered HTML: unescaped)."""
    return {html_lib.unescape(m.group(2)) for m in _HREF.finditer(part_html)}


def track(
    html: str,
    text: str,
    *,
    day: date,
    variant: str,
    public_url: str,
    article_urls: Collection[str],
    crisis_urls: Collection[str],
    opens: bool,
) -> tuple[str, str]:
    """The render with its trackable links through /r/ (in both parts) and, with `opens`, the day's pixel."""
    rewritten: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        url = html_lib.unescape(match.group(2))
        if not trackable(url, public_url=public_url, article_urls=article_urls, crisis_urls=crisis_urls):
            return match.group(0)
        target = rewritten.setdefault(url, redirect_url(public_url, day, link_id(url, public_url)))
        return match.group(1) + html_lib.escape(target, quote=True) + match.group(3)

    html = _HREF.sub(swap, html)
    if rewritten:
        text = _TEXT_URL.sub(lambda m: rewritten.get(m.group(0), m.group(0)), text)
    if opens:
        pixel = (
            f'<img src="{html_lib.escape(pixel_url(public_url, day, variant))}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0;opacity:0" aria-hidden="true">'
        )
        html = html.replace("</body>", pixel + "</body>", 1) if "</body>" in html else html + pixel
    return html, text


def targets(web_html: str, *, day: date, public_url: str, crisis_urls: Collection[str]) -> dict[str, str]:
    """link id → URL for every link of a day that /r/<day>/<id> may redirect to: the links of that day's
    archive page (as stored when its send started) that the email counts. Nothing else is a target (no open
    redirect)."""
    out = {
        "archive": f"{public_url}/archive/{url_name(day)}",
        "archive-index": f"{public_url}/archive/",
    }
    for match in _HREF.finditer(web_html):
        url = html_lib.unescape(match.group(2))
        if not _never(url, crisis_urls) and not url.startswith(public_url):
            out.setdefault(link_id(url, public_url), url)
    return out
