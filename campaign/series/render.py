"""Render one issue: Jinja2 → MJML → HTML (mjml-python) → CSS inlined (premailer) → verified.

Heavy work happens once per (day, country variant). Per-recipient fields are left as placeholders —
plain tokens without spaces or braces, which survive premailer's href rewriting — and merged by string
substitution (`RenderedIssue.merge`) or by the provider's own merge feature.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jinja2
from jinja2.sandbox import SecurityError
from markupsafe import Markup, escape

from campaign.errors import Problem, RenderError
from campaign.series.merge import UNSUBSCRIBE_URL, merge
from campaign.series.parts import is_part_key, url_name
from campaign.series.safety import CrisisBlock, Service, verify_issue
from campaign.series.templating import check_templates
from campaign.series.templating import make_environment as sandboxed_environment

MAX_HTML_BYTES = 102 * 1024 - 2048  # Gmail clips at ~102 KB; keep room for the merged URL and headers

SAFETY_PARTIALS = ("partials/crisis", "partials/disclaimer", "partials/footer")
UNCOMPILED = re.compile(r"</?mj-[a-z-]+[^>]*>", re.I)  # any MJML tag left after compiling


@dataclass(frozen=True)
class IssueContent:
    """Everything about one day that does not depend on the recipient's country."""

    day: date
    number: int
    total: int | None  # None: "Day N" alone (see series/frozen.py)
    subject: str
    preheader: str
    note: str | None
    part_html: str
    part_text: str
    continued: str | None

    @property
    def unit(self) -> str:
        """What the kicker calls it: "Day" (a calendar series) or "Part" (start: on_join, no dates)."""
        return "Part" if is_part_key(self.day) else "Day"


@dataclass(frozen=True)
class RenderedIssue:
    day: date
    number: int
    variant: str
    subject: str
    preheader: str
    html: str
    text: str
    web: bool = False

    def merge(self, *, unsubscribe_url: str, name: str | None, preferences_url: str | None = None) -> tuple[str, str]:
        """The HTML and text for one recipient: a few string substitutions, no template work."""
        return merge(self.html, self.text, unsubscribe_url=unsubscribe_url, name=name, preferences_url=preferences_url)


def first_number(value: str) -> str:
    """The first phone number in a wording, as digits: "999 (112 also works)" → "999" (never "999112")."""
    match = re.search(r"\d[\d \-]*\d|\d", value)
    return re.sub(r"\D", "", match.group(0)) if match else ""


def _number_pattern(digits: str) -> re.Pattern:
    # "116123" must find "116 123", "18006686868" must find "1-800-668-6868"
    return re.compile(r"(?<![\d])" + r"[\s\-]?".join(map(re.escape, digits)) + r"(?![\d])")


def how_html(service: Service) -> Markup:
    """A service's wording, escaped, with its numbers made tappable (tel:/sms:) and its URL linked."""
    text = str(escape(service.how))
    linked: list[tuple[int, int, str]] = []
    if service.phone:
        m = _number_pattern(service.phone).search(text)
        if m:
            linked.append((m.start(), m.end(), f'<a href="tel:{service.phone}">{m.group(0)}</a>'))
    if service.sms and service.sms != service.phone:
        body = f"?&amp;body={escape(service.sms_body)}" if service.sms_body else ""
        for m in _number_pattern(service.sms).finditer(text):
            if not any(s <= m.start() < e for s, e, _ in linked):
                linked.append((m.start(), m.end(), f'<a href="sms:{service.sms}{body}">{m.group(0)}</a>'))
                break
    if service.url:
        url = str(escape(service.url))
        bare = url.split("://", 1)[1]
        m = re.search(re.escape(url) + "|" + re.escape(bare), text)
        if m and not any(s <= m.start() < e for s, e, _ in linked):
            linked.append((m.start(), m.end(), f'<a href="{url}">{m.group(0)}</a>'))
    for start, end, anchor in sorted(linked, reverse=True):
        text = text[:start] + anchor + text[end:]
    return Markup(text)


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """The sandboxed email environment (see series/templating.py) with our filters."""
    env = sandboxed_environment(templates_dir)
    env.filters["how_html"] = how_html
    env.filters["first_number"] = first_number
    return env


_INLINER = None  # the Premailer subclass below, made on first use
_RULES_CACHE: dict[tuple, tuple[list, list]] = {}  # (stylesheet, index, options) -> premailer's parsed rules


def _inliner(html: str):
    """premailer's Premailer, parsing each stylesheet once per process instead of once per issue: every issue
    of a series carries the same <style> blocks, and turning cssutils' parse into premailer's rule list (value
    serialisation, specificity) was 40% of a render. Read-only results, so one copy serves every issue."""
    from premailer import Premailer  # heavy (requests, cssutils): imported when first rendering

    class CachedPremailer(Premailer):
        def _parse_style_rules(self, css_body, ruleset_index):
            key = (css_body, ruleset_index, self.strip_important, self.exclude_pseudoclasses, self.disable_validation)
            if key not in _RULES_CACHE:
                if len(_RULES_CACHE) > 256:  # a long-running scheduler after many template edits
                    _RULES_CACHE.clear()
                _RULES_CACHE[key] = super()._parse_style_rules(css_body, ruleset_index)
            rules, leftover = _RULES_CACHE[key]
            return list(rules), list(leftover)

    return CachedPremailer


def inline_css(html: str) -> str:
    global _INLINER
    if _INLINER is None:
        _INLINER = _inliner(html)
    out = _INLINER(
        html,
        allow_network=False,  # never fetch a stylesheet at render time (offline builds, no third party)
        strip_important=False,  # our @media overrides need !important to beat the inlined styles
        keep_style_tags=True,  # keep @media (responsive columns, dark mode) in <style>
        remove_classes=False,  # the @media rules select by class
        base_url=None,  # a base URL would rewrite the merge placeholders in hrefs
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,  # cssutils warns on every mso-*/-webkit-* property
    ).transform(pretty_print=False)
    # lxml drops MJML's doctype; without one Chromium and others render in quirks mode.
    return out if out.lstrip()[:15].lower() == "<!doctype html>" else "<!DOCTYPE html>\n" + out.lstrip()


class Renderer:
    """Renders issues from one set of templates. Construct once; `render` per (day, variant)."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        campaign,
        article_title: str,
        disclaimer: str,
        public_url: str,
        crisis_block,
        crisis_urls: frozenset[str] = frozenset(),
    ):
        self.env = make_environment(templates_dir)
        self.templates_dir = templates_dir
        self.campaign = campaign
        self.article_title = article_title
        self.disclaimer = disclaimer
        self.public_url = public_url
        self.crisis_block = crisis_block  # variant -> CrisisBlock
        self.crisis_urls = crisis_urls  # never rewritten or counted (series/engagement.py)

    def archive_url(self, day: date) -> str:
        return f"{self.public_url}/archive/{url_name(day)}"

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise RenderError(
                Problem(f"templates/{name}", None, "", "template not found", "restore it: every issue needs it")
            ) from None
        except jinja2.TemplateSyntaxError as err:
            raise RenderError(_syntax_problem(err, name)) from None

    def _render_template(self, name: str, context: dict) -> str:
        template = self._template(name)
        try:
            return template.render(context)
        except (jinja2.UndefinedError, SecurityError) as err:  # both: the template reached for what it may not
            file, line = _template_location(err, name, self.templates_dir)
            what = (
                f"refused by the template sandbox: {err}"
                if isinstance(err, SecurityError)
                else (f"undefined value: {err.message}")
            )
            raise RenderError(
                Problem(
                    file,
                    line,
                    "",
                    what,
                    "use only the documented context variables (see the comment at the top of the template)",
                )
            ) from None
        except jinja2.TemplateSyntaxError as err:  # an included template that does not compile
            raise RenderError(_syntax_problem(err, name)) from None
        except jinja2.TemplateError as err:
            file, line = _template_location(err, name, self.templates_dir)
            raise RenderError(Problem(file, line, "", f"template error: {err}", "fix the template")) from None
        except RecursionError:
            raise RenderError(
                Problem(
                    f"templates/{name}",
                    None,
                    "",
                    "template recursion (a template includes, extends or calls itself without end)",
                    "a template may not include or extend itself, directly or through others",
                )
            ) from None
        except RenderError:
            raise
        except Exception as err:  # OverflowError (range too big), ZeroDivisionError, TypeError, ...: still the template
            file, line = _template_location(err, name, self.templates_dir)
            raise RenderError(
                Problem(file, line, "", f"the template failed: {type(err).__name__}: {err}", "fix the template")
            ) from None

    def check_templates(self, number_check=None) -> list:
        """Static problems in every email template (see series/templating.py), for `campaign validate`."""
        return check_templates(self.env, self.templates_dir, number_check)

    def render(self, content: IssueContent, variant: str, *, web: bool = False) -> RenderedIssue:
        """One day's issue for one crisis variant (web=True: the archive's page, no personal fields)."""
        context = {
            "issue": content,
            "title": content.subject,
            "preheader": content.preheader,
            "archive_url": self.archive_url(content.day),
        }
        track = None if web else self._tracker(content, variant)
        html, text = self._render_email(
            "issue", context, variant, web=web, where=f"issue {content.day} ({variant})", track=track
        )
        return RenderedIssue(content.day, content.number, variant, content.subject, content.preheader, html, text, web)

    def render_message(
        self, template: str, *, day: date, subject: str, preheader: str, variant: str, context: dict | None = None
    ) -> RenderedIssue:
        """A message that is not a day's issue (welcome, sign-up confirmation): `templates/TEMPLATE.mjml.j2`
        and `.txt.j2`, through the same pipeline — the crisis block, disclaimer and footer appended and
        verified like every issue. `day` names the folder/tag it is filed under."""
        base = {"title": subject, "preheader": preheader, "subject": subject, "archive_url": self.archive_url(day)}
        html, text = self._render_email(
            template, {**base, **(context or {})}, variant, web=False, where=f"{template} message ({variant})"
        )
        return RenderedIssue(day, 0, variant, subject, preheader, html, text, False)

    def _tracker(self, content: IssueContent, variant: str):
        """`engagement: aggregate`: the rewrite of a day's email (series/engagement.py); None when off."""
        if getattr(self.campaign, "engagement", "off") != "aggregate":
            return None
        from campaign.series.engagement import article_links, track

        def rewrite(html: str, text: str) -> tuple[str, str]:
            return track(
                html,
                text,
                day=content.day,
                variant=variant,
                public_url=self.public_url,
                article_urls=article_links(content.part_html),
                crisis_urls=self.crisis_urls,
                opens=getattr(self.campaign, "opens", "off") == "aggregate",
            )

        return rewrite

    def _render_email(
        self, template: str, context: dict, variant: str, *, web: bool, where: str, track=None
    ) -> tuple[str, str]:
        crisis: CrisisBlock = self.crisis_block(variant)
        context = {
            "campaign": self.campaign,
            "article_title": self.article_title,
            "subscribe_url": f"{self.public_url}/subscribe",
            "web": web,
            "crisis": crisis,
            "disclaimer": self.disclaimer,
            **context,
        }
        mjml_source = self._render_template(f"{template}.mjml.j2", context)
        tail = "".join(self._render_template(f"{p}.mjml.j2", context) for p in SAFETY_PARTIALS)
        if mjml_source.count("</mj-body>") != 1:
            raise RenderError(
                Problem(
                    "templates/base.mjml.j2",
                    None,
                    "</mj-body>",
                    "the layout must contain exactly one </mj-body>",
                    "restore it: the pipeline appends the crisis block and disclaimer before it",
                )
            )
        mjml_source = mjml_source.replace("</mj-body>", tail + "</mj-body>")
        try:
            import mjml

            compiled = mjml.mjml2html(mjml_source)
        except Exception as err:  # mrml raises a plain exception type with the parser's message
            raise RenderError(
                Problem(
                    f"templates/{template}.mjml.j2",
                    None,
                    "",
                    f"MJML error: {err}",
                    "check the MJML tags in the templates",
                )
            ) from None
        if leftover := UNCOMPILED.search(compiled):
            raise RenderError(
                Problem(
                    f"templates/{template}.mjml.j2",
                    None,
                    "",
                    f"MJML did not compile: {leftover.group(0)!r} is left in the final HTML (an <mj-raw> that opens "
                    "an element it does not close swallows the MJML after it)",
                    "close every HTML element inside the same <mj-raw> that opens it",
                )
            )
        html = inline_css(compiled)
        text = self._render_template(f"{template}.txt.j2", context)
        text += "".join(self._render_template(f"{p}.txt.j2", context) for p in SAFETY_PARTIALS)
        text = _tidy_text(text)
        if track is not None:
            html, text = track(html, text)
        optout = f"{self.public_url}/subscribe" if web else UNSUBSCRIBE_URL
        verify_issue(
            html=html,
            text=text,
            block=crisis,
            disclaimer=self.disclaimer,
            postal_address=self.campaign.postal_address,
            optout_marker=optout,
            where=where,
            max_html_bytes=MAX_HTML_BYTES,
        )
        return html, text


def _template_location(err: Exception, name: str, root: Path) -> tuple[str, int | None]:
    """The template file and line an error was raised in (Jinja rewrites tracebacks to the .j2 lines)."""
    tb = err.__traceback__
    file, line = f"templates/{name}", None
    root = root.resolve()
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            path = Path(filename)
            if path.is_relative_to(root):
                file = f"templates/{path.relative_to(root).as_posix()}"
            line = tb.tb_lineno
        tb = tb.tb_next
    return file, line


def _tidy_text(text: str) -> str:
    """Collapse runs of blank lines left by template conditionals; end with one newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def _syntax_problem(err: jinja2.TemplateSyntaxError, name: str) -> Problem:
    return Problem(
        f"templates/{err.name or name}",
        err.lineno,
        "",
        f"template syntax error: {err.message}",
        "fix the Jinja tag on that line",
    )
