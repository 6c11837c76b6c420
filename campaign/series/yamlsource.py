"""Load YAML keeping each node's line number, and refuse duplicate mapping keys.

PyYAML's `safe_load` silently keeps the last of two equal keys — for `schedule.yaml` that would drop a
whole day without a word — so we construct the data ourselves from the composed node tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from campaign.errors import Problem

Path_ = tuple[Any, ...]


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # path → 1-based line of its key (or value)
    problems: list[Problem] = field(default_factory=list)
    multiline_scalars: set[Path_] = field(default_factory=set)  # scalars written across several lines
    repeated: list[tuple[Path_, Any]] = field(default_factory=list)  # (path, value) of duplicate keys' values

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(_norm(p) for p in path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


_DATE_REPR = re.compile(r"^datetime\.date\((\d+), (\d+), (\d+)\)$")


def _norm(key: Any) -> str:
    """Paths compare as strings. Pydantic reports a date key as its repr: turn it back into ISO form."""
    text = str(key)
    m = _DATE_REPR.match(text)
    return f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}" if m else text


def load_yaml(text: str, filename: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (err.context, err.problem) if x)
        return YamlDocument(
            None,
            problems=[
                Problem(
                    filename,
                    line,
                    "",
                    f"YAML syntax error: {what}",
                    "fix the indentation, quoting or punctuation on that line",
                )
            ],
        )
    except yaml.YAMLError as err:
        return YamlDocument(None, problems=[Problem(filename, None, "", f"YAML error: {err}", "fix the file")])
    finally:
        loader.dispose()
    doc = YamlDocument(None)
    if node is None:
        doc.problems.append(Problem(filename, 1, "", "the file is empty", "restore its content"))
        return doc
    doc.lines[()] = node.start_mark.line + 1
    doc.data = _construct(node, (), doc, filename, yaml.SafeLoader(""))
    return doc


def _construct(node: yaml.Node, path: Path_, doc: YamlDocument, filename: str, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, path, doc, filename, loader)
            line = key_node.start_mark.line + 1
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
                shadow = path + (f"{_norm(key)} (repeated)",)
                doc.lines[shadow] = line
                doc.repeated.append((shadow, _construct(value_node, shadow, doc, filename, loader)))
                continue
            seen[key] = line
            child = path + (_norm(key),)
            doc.lines[child] = line
            result[key] = _construct(value_node, child, doc, filename, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = path + (str(index),)
            doc.lines[child] = item.start_mark.line + 1
            items.append(_construct(item, child, doc, filename, loader))
        return items
    if node.end_mark.line > node.start_mark.line and node.style in (None, "'", '"'):
        # A quoted scalar folded across lines is one line to YAML but two to the person who typed it.
        doc.multiline_scalars.add(path)
    return loader.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    out = ""
    for part in map(_norm, path):
        out += f"[{part}]" if str(part).isdigit() else (f".{part}" if out else str(part))
    return out


dotted_path = _dotted
