"""Load YAML keeping each node's line number, and refuse duplicate mapping keys.

PyYAML's `safe_load` silently keeps the last of two equal keys — for `schedule.yaml` that would drop a
whole day without a word — so we construct the data ourselves from the composed node tree.

Bounded: aliases (`*name`) are refused and nesting is capped at `MAX_DEPTH` *while composing*, event by
event, so a billion-laughs file or a 20,000-deep list is refused after reading a few dozen events. A value
YAML cannot construct (2027-09-31, an unknown `!!tag`) is a problem on its line, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from campaign.errors import InvalidInput, Problem

Path_ = tuple[Any, ...]
MAX_DEPTH = 50


class _BoundedLoader(yaml.SafeLoader):
    """Composes nodes like SafeLoader, but refuses aliases and nesting deeper than MAX_DEPTH."""

    _depth = 0
    filename = "<yaml>"  # set per document, for the problems it raises

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise InvalidInput(
                Problem(
                    self.filename,
                    line,
                    "",
                    f"YAML aliases are not allowed (*{event.anchor})",
                    "write the value out in full instead of &anchor / *alias",
                )
            )
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if self._depth >= MAX_DEPTH:
                raise InvalidInput(
                    Problem(
                        self.filename,
                        line,
                        "",
                        f"the YAML is nested more than {MAX_DEPTH} levels deep",
                        "flatten the lists and mappings (the schedule needs 3 levels)",
                    )
                )
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


_UNSET = object()


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # path → 1-based line of its key (or value)
    problems: list[Problem] = field(default_factory=list)
    multiline_scalars: set[Path_] = field(default_factory=set)  # scalars written across several lines
    repeated: list[tuple[Path_, Any]] = field(default_factory=list)  # (path, value) of duplicate keys' values

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(norm_key(p) for p in path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


_DATE_REPR = re.compile(r"^datetime\.date\((\d+), (\d+), (\d+)\)$")


def norm_key(key: Any) -> str:
    """Paths compare as strings. Pydantic reports a date key as its repr: turn it back into ISO form."""
    text = str(key)
    m = _DATE_REPR.match(text)
    return f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}" if m else text


def _flow_depth_problem(text: str, filename: str) -> Problem | None:
    """A linear pre-scan for [[[[… / {{{{… nesting: PyYAML's scanner looks far ahead inside flow collections,
    so a 20,000-deep one would cost seconds before the composer's depth check is reached."""
    depth, quote, line = 0, "", 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = ""
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n"):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'" and (i == 0 or text[i - 1] in " \t\n[{,:-"):
            quote = c
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(
                    filename,
                    line,
                    "",
                    f"the YAML is nested more than {MAX_DEPTH} levels deep",
                    "flatten the lists and mappings (the schedule needs 3 levels)",
                )
        elif c in "]}" and depth:
            depth -= 1
        i += 1
    return None


def load_yaml(text: str, filename: str) -> YamlDocument:
    deep = _flow_depth_problem(text, filename)
    if deep is not None:
        return YamlDocument(None, problems=[deep])
    try:
        loader = _BoundedLoader(text)
        loader.filename = filename
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        return YamlDocument(
            None,
            problems=[
                Problem(
                    filename,
                    line,
                    "",
                    f"character U+{err.character:04X} is not allowed in YAML (a control character)",
                    "delete it (it is often pasted by accident)",
                )
            ],
        )
    try:
        node = loader.get_single_node()
    except InvalidInput as err:  # an alias, or nesting past MAX_DEPTH
        return YamlDocument(None, problems=list(err.problems))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = mark.line + 1 if mark else None
        what = " ".join(x for x in (err.context, err.problem) if x)
        return YamlDocument(
            None,
            problems=[
                Problem(
                    filename,
                    where,
                    "",
                    f"YAML syntax error: {what}",
                    "fix the indentation, quoting or punctuation on that line",
                )
            ],
        )
    except yaml.YAMLError as err:
        what = str(err).splitlines()[0]
        return YamlDocument(None, problems=[Problem(filename, None, "", f"YAML error: {what}", "fix the file")])
    finally:
        loader.dispose()
    doc = YamlDocument(None)
    if node is None:
        doc.problems.append(Problem(filename, 1, "", "the file is empty", "restore its content"))
        return doc
    doc.lines[()] = node.start_mark.line + 1
    doc.data = _construct(node, (), doc, filename, yaml.SafeLoader(""))
    if doc.data is _UNSET:
        doc.data = None
    return doc


_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")}


def _construct(node: yaml.Node, path: Path_, doc: YamlDocument, filename: str, loader: yaml.SafeLoader) -> Any:
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        doc.problems.append(
            Problem(
                filename,
                node.start_mark.line + 1,
                _dotted(path),
                f"the YAML tag {tag} is not allowed",
                "remove the tag: write plain text, numbers, dates, lists and mappings",
            )
        )
        return _UNSET
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, path, doc, filename, loader)
            line = key_node.start_mark.line + 1
            if key is _UNSET:
                continue  # reported where it failed
            try:
                hash(key)
            except TypeError:
                doc.problems.append(
                    Problem(
                        filename,
                        line,
                        _dotted(path),
                        "a mapping key must be a plain value",
                        "use a simple word or date as the key",
                    )
                )
                continue
            if key in seen:
                doc.problems.append(
                    Problem(
                        filename,
                        line,
                        _dotted(path + (key,)),
                        f"duplicate key {key!s} (first defined on line {seen[key]})",
                        "each key may appear once: merge the two entries or change one of them",
                    )
                )
                # Still read the repeated value, so the problems inside it are reported in the same run.
                shadow = path + (f"{norm_key(key)} (repeated)",)
                doc.lines[shadow] = line
                doc.repeated.append((shadow, _construct(value_node, shadow, doc, filename, loader)))
                continue
            seen[key] = line
            child = path + (norm_key(key),)
            doc.lines[child] = line
            value = _construct(value_node, child, doc, filename, loader)
            if value is not _UNSET:
                result[key] = value
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = path + (str(index),)
            doc.lines[child] = item.start_mark.line + 1
            value = _construct(item, child, doc, filename, loader)
            if value is not _UNSET:
                items.append(value)
        return items
    if node.end_mark.line > node.start_mark.line and getattr(node, "style", None) in (None, "'", '"'):
        # A quoted scalar folded across lines is one line to YAML but two to the person who typed it.
        doc.multiline_scalars.add(path)
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as err:
        line = node.start_mark.line + 1
        if node.tag == "tag:yaml.org,2002:timestamp":
            message, fix = f"{node.value!r} is not a real date ({err})", "use a date that exists, e.g. 2027-09-30"
        else:
            what = getattr(err, "problem", None) or str(err).splitlines()[0]
            message, fix = f"{node.value!r} cannot be read ({what})", "write plain text, in double quotes"
        doc.problems.append(Problem(filename, line, _dotted(path), message, fix))
        return _UNSET


def _dotted(path: Path_) -> str:
    out = ""
    for part in map(norm_key, path):
        out += f"[{part}]" if str(part).isdigit() else (f".{part}" if out else str(part))
    return out


dotted_path = _dotted
