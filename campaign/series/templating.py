"""The Jinja2 environment for email templates: sandboxed, reading only regular files inside templates/.

* `ImmutableSandboxedEnvironment`: no attribute starting with `_` (so no `cycler.__init__.__globals__`),
  no mutation of lists or dicts, `range` capped, and `*` / `**` refused when they would build a huge value.
* `SafeLoader`: a template name is a relative path of plain parts; every part on the way must be a real
  directory or file inside templates/ (no symlinks, no `..`, nothing resolving outside), a regular file,
  UTF-8, under `MAX_TEMPLATE` bytes. The same loader serves `{% include %}`, `{% extends %}`, `{% import %}`.
* `check_templates`: a static pass over every email template (for `campaign validate`) that reports, with
  the file and line, what the sandbox would refuse at render time, plus include/extends cycles — so a
  hostile template fails before anything of it runs.
"""

from __future__ import annotations

import operator
import os
import stat
from collections.abc import Callable
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from campaign.errors import Problem, RenderError
from campaign.series.files import MAX_TEMPLATE, file_problem

MAX_REPEAT = 10_000  # "x" * n and [..] * n
MAX_POWER = 64


class SafeLoader(jinja2.BaseLoader):
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_of(self, name: str) -> Path:
        """The file for template `name`, or RenderError naming why it may not be read."""

        def refuse(what: str, fix: str = "use a file inside templates/ by its relative name") -> RenderError:
            return RenderError(Problem(f"templates/{name}", None, "", what, fix))

        parts = name.replace("\\", "/").split("/")
        if (
            not name
            or "\x00" in name
            or name.startswith("/")
            or any(p in ("", ".", "..") for p in parts)
            or ":" in parts[0]
        ):
            raise refuse("the template name is not a plain relative path")
        try:
            root = self.root.resolve(strict=True)
        except OSError:
            raise refuse("the templates folder is missing", "restore templates/ from the repository") from None
        current = root
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                raise jinja2.TemplateNotFound(name) from None
            except OSError as err:
                raise refuse(f"cannot read it ({err.strerror})", "check its permissions") from None
            if stat.S_ISLNK(info.st_mode):
                raise refuse(
                    "is (or lies under) a symbolic link; templates are read only from regular files in templates/",
                    "replace the link with a copy of the template",
                )
        if not current.resolve().is_relative_to(root):
            raise refuse("resolves outside templates/")
        return current

    def get_source(self, environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.path_of(template)
        text, problem = file_problem(
            path,
            f"templates/{template}",
            max_bytes=MAX_TEMPLATE,
            fix_missing="restore it from the repository",
            allow_symlink=False,
        )
        if problem is not None:
            raise RenderError(problem)
        mtime = os.stat(path).st_mtime_ns

        def uptodate() -> bool:
            try:
                return os.stat(path).st_mtime_ns == mtime
            except OSError:
                return False

        return text, str(path), uptodate


class EmailEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator_: str, left, right):
        if operator_ == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                raise SecurityError(f"the power {right} is too large (at most {MAX_POWER})")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_REPEAT:
                raise SecurityError(f"repeating a value {count} times would build more than {MAX_REPEAT} items")
        return operator.mul(left, right)


def make_environment(templates_dir: Path) -> jinja2.Environment:
    env = EmailEnvironment(
        loader=SafeLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name) and name.endswith((".mjml.j2", ".html.j2")),
        keep_trailing_newline=True,
    )
    return env


def email_template_names(templates_dir: Path) -> list[str]:
    """Every email template (templates/*.j2 and templates/partials/*.j2; web/ has its own checks)."""
    names = []
    for folder in (templates_dir, templates_dir / "partials"):
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        prefix = "" if folder == templates_dir else "partials/"
        names += [prefix + e for e in entries if e.endswith(".j2")]
    return names


def _referenced(ast: nodes.Template) -> list[tuple[nodes.Node, object]]:
    out: list[tuple[nodes.Node, object]] = []
    for node in ast.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        out.append((node, getattr(node, "template", None)))
    return out


def check_templates(
    env: jinja2.Environment, templates_dir: Path, number_check: Callable[[str], list[str]] | None = None
) -> list[Problem]:
    """Static problems in every email template: syntax, unreadable files, internals, cycles, numbers."""
    problems: list[Problem] = []
    graph: dict[str, list[tuple[str, int]]] = {}
    for name in email_template_names(templates_dir):
        where = f"templates/{name}"
        try:
            source, _filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
            ast = env.parse(source, name, where)
        except RenderError as err:
            problems.extend(err.problems)
            continue
        except jinja2.TemplateNotFound:
            continue
        except jinja2.TemplateSyntaxError as err:
            problems.append(
                Problem(
                    where, err.lineno, "", f"template syntax error: {err.message}", "fix the Jinja tag on that line"
                )
            )
            continue
        problems += _internals(ast, where)
        edges = graph.setdefault(name, [])
        for ref, target in _referenced(ast):
            if isinstance(target, nodes.Const) and isinstance(target.value, str):
                edges.append((target.value, ref.lineno))
                try:
                    env.loader.path_of(target.value)  # type: ignore[union-attr]
                except RenderError as err:
                    problems += [
                        Problem(where, ref.lineno, "", f"refers to {target.value!r}: {p.message}", p.fix)
                        for p in err.problems
                    ]
                except jinja2.TemplateNotFound:
                    problems.append(
                        Problem(
                            where,
                            ref.lineno,
                            "",
                            f"refers to {target.value!r}, which does not exist",
                            "restore it or fix the name",
                        )
                    )
            else:
                problems.append(
                    Problem(
                        where,
                        ref.lineno,
                        "",
                        "includes, extends or imports a template chosen at render time",
                        'name the template in quotes, e.g. {% include "partials/crisis_list.html.j2" %}',
                    )
                )
        if number_check is not None:
            problems += _unverified_numbers(ast, where, number_check)
    problems.extend(_cycles(graph))
    return problems


def _internals(ast: nodes.Template, where: str) -> list[Problem]:
    """Reaches into Python internals (`x._y`, `x["_y"]`, `|attr`): refused even though the sandbox would."""
    out = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        attr = None
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value if isinstance(node.arg.value, str) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            attr = "|attr"
        if attr and (attr.startswith("_") or attr == "|attr"):
            out.append(
                Problem(
                    where,
                    node.lineno,
                    "",
                    f"the template reaches into Python internals ({attr!r}); templates are sandboxed",
                    "use only the documented context variables (see the comment at the top of the template)",
                )
            )
    return out


def _unverified_numbers(ast: nodes.Template, where: str, number_check: Callable[[str], list[str]]) -> list[Problem]:
    fix = "crisis numbers come only from content/crisis_resources.yaml (the crisis block adds them)"
    return [
        Problem(where, data.lineno, "", message, fix)
        for data in ast.find_all(nodes.TemplateData)
        for message in number_check(data.data)
    ]


def _cycles(graph: dict[str, list[tuple[str, int]]]) -> list[Problem]:
    out, reported = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            current, path = stack.pop()
            for target, line in graph.get(current, []):
                if target == start:
                    cycle = " → ".join(path + [target])
                    key = frozenset(path)
                    if key not in reported:
                        reported.add(key)
                        out.append(
                            Problem(
                                f"templates/{current}",
                                line,
                                "",
                                f"template recursion: {cycle}",
                                "a template may not include or extend itself, directly or through others",
                            )
                        )
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
    return out
