"""content/article.md → an ordered list of blocks (markdown-it-py), plus the disclaimer.

A block is the smallest piece the splitter may move: a heading, a paragraph, or a whole list (lists are
never split). Each block keeps its Markdown source verbatim, so the HTML and the plain-text parts of an
issue are both made from the same Markdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

from campaign.errors import ContentError, Problem
from campaign.series.files import MAX_ARTICLE, MAX_DISCLAIMER, file_problem
from campaign.series.yamlsource import load_yaml

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


@lru_cache(maxsize=1)
def _structure_parser() -> MarkdownIt:
    # Raw HTML recognised when reading the structure, so the article's HTML comments (captions of images we
    # do not have) are seen as comments and skipped ...
    return MarkdownIt("commonmark", {"html": True})


@lru_cache(maxsize=1)
def _html_renderer() -> MarkdownIt:
    # ... and never rendered: no raw HTML from content reaches an email.
    return MarkdownIt("commonmark", {"html": False})


@dataclass(frozen=True)
class Block:
    kind: Literal["heading", "paragraph", "list"]
    source: str  # the block's Markdown, verbatim
    text: str  # plain text: what is counted, linted and put in the text part
    line: int  # 1-based line in article.md
    level: int = 0  # heading level (2 = section, 3 = sub-section)

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Article:
    title: str
    source: str
    blocks: tuple[Block, ...]
    path: str = "content/article.md"

    def headings(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "heading"]


def parse_article(text: str, filename: str = "content/article.md") -> Article:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ContentError(
            Problem(
                filename,
                1,
                "front matter",
                "the file must start with front matter",
                "add ---, title: …, source: …, --- at the top",
            )
        )
    doc = load_yaml(match.group(1), filename)
    if doc.problems:
        raise ContentError(
            [Problem(filename, (p.line or 1) + 1, p.field or "front matter", p.message, p.fix) for p in doc.problems]
        )
    meta = doc.data
    if not isinstance(meta, dict):
        raise ContentError(
            Problem(filename, 2, "front matter", "the front matter must be title: … and source: … lines", "fix it")
        )
    problems = [
        Problem(filename, 2, key, f"front matter has no {key}", f"add {key}: …")
        for key in ("title", "source")
        if not str(meta.get(key) or "").strip()
    ]
    if problems:
        raise ContentError(problems)
    body_offset = match.group(0).count("\n")
    body = text[match.end() :]
    blocks = _blocks(body, body_offset)
    if not blocks:
        raise ContentError(
            Problem(
                filename, body_offset + 1, "", "the article has no text", "paste the article below the front matter"
            )
        )
    return Article(str(meta["title"]).strip(), str(meta["source"]).strip(), tuple(blocks), filename)


def _blocks(body: str, offset: int) -> list[Block]:
    lines = body.splitlines()
    tokens = _structure_parser().parse(body)
    out: list[Block] = []
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            depth == 0
            and tok.map is not None
            and tok.type in ("heading_open", "paragraph_open", "bullet_list_open", "ordered_list_open")
        ):
            start, end = tok.map
            source = "\n".join(lines[start:end]).strip()
            close = tok.type.replace("_open", "_close")
            j = i + 1
            nesting = 1
            while nesting:
                if tokens[j].type == tok.type:
                    nesting += 1
                elif tokens[j].type == close:
                    nesting -= 1
                j += 1
            inner = tokens[i:j]
            if tok.type == "heading_open":
                out.append(Block("heading", source, _inline_text(inner[1]), offset + start + 1, int(tok.tag[1])))
            elif tok.type == "paragraph_open":
                out.append(Block("paragraph", source, _inline_text(inner[1]), offset + start + 1))
            else:
                items = [_inline_text(t) for t in inner if t.type == "inline"]
                out.append(Block("list", source, "\n".join(f"- {item}" for item in items), offset + start + 1))
            i = j
            continue
        i += 1  # html_block (captions kept as comments), hr, blank
    return out


def _inline_text(inline: Token) -> str:
    """Plain text of an inline token: emphasis dropped, links as 'text (url)', escapes resolved."""
    parts: list[str] = []
    href_stack: list[str] = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "link_open":
            href_stack.append(str(child.attrs.get("href", "")))
        elif child.type == "link_close":
            href = href_stack.pop() if href_stack else ""
            if href:
                parts.append(f" ({href})")
    return "".join(parts).strip()


def markdown_to_html(source: str) -> str:
    return _html_renderer().render(source)


def markdown_to_text(source: str) -> str:
    """Plain text for the text/plain part, from the Markdown source (never scraped from HTML)."""
    blocks = _blocks(source, 0)
    return "\n\n".join(b.text for b in blocks)


MAX_BLOCKS = 300  # the splitter is O(days · blocks²): 300 blocks split in about a third of a second


def load_article(path: Path, text: str | None = None) -> Article:
    """content/article.md — or, given `text`, that text checked as if it were the file (the studio's unsaved
    edit): the same size and paragraph limits."""
    name = f"content/{path.name}"
    if text is None:
        text, problem = file_problem(path, name, max_bytes=MAX_ARTICLE, fix_missing="restore content/article.md")
        if problem is not None:
            raise ContentError(problem)
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_ARTICLE:
        raise ContentError(Problem(name, None, "", f"the article is over {MAX_ARTICLE // 1024} KB", "shorten it"))
    article = parse_article(text.replace("\r\n", "\n"), name)
    if len(article.blocks) > MAX_BLOCKS:
        raise ContentError(
            Problem(
                name,
                None,
                "",
                f"the article has {len(article.blocks)} paragraphs, headings and lists; the limit is {MAX_BLOCKS}",
                "join short paragraphs (is this the right file?)",
            )
        )
    return article


def load_disclaimer(path: Path) -> str:
    """The medical disclaimer, as one paragraph of text (appended to every issue, never split)."""
    text, problem = file_problem(
        path,
        "content/disclaimer.md",
        max_bytes=MAX_DISCLAIMER,
        fix_missing="restore content/disclaimer.md: every issue must carry the disclaimer",
    )
    if problem is not None:
        raise ContentError(problem)
    text = text.strip()
    if not text:
        raise ContentError(
            Problem(
                "content/disclaimer.md",
                1,
                "",
                "the disclaimer is empty",
                "restore the article's closing disclaimer paragraph",
            )
        )
    return " ".join(text.split())
