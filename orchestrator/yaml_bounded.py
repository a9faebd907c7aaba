"""Parsing a campaign's YAML with every expansion bounded, before any Python object is built.

YAML can make a small file stand for a huge or endless document: aliases that repeat a subtree
(a "billion laughs" bomb), an alias inside the node it names (a cycle), nesting thousands deep
(which overflows a recursive parser or validator), explicit tags that turn text into numbers or
objects, and a repeated key whose last value silently wins. This loader composes the node graph
itself, refusing deep nesting, too many aliases, cycles and explicit tags as it goes; then it
measures the document as aliases expand it (size and depth, each node once) and checks every
mapping for repeated keys and every number for what a campaign can mean, all before constructing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DEPTH = 32  # nesting levels; a campaign file needs about 6
MAX_ALIASES = 64  # *alias references; a campaign shares a few blocks at most
MAX_NODES = 50_000  # values once every alias is expanded
MAX_INT_DIGITS = 20  # a signed 64-bit integer has at most 19

STANDARD_TAG = "tag:yaml.org,2002:"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"
_NOT_FINITE = re.compile(r"^[-+]?\.(inf|nan)$", re.IGNORECASE)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlProblem:
    """One refusal: where (the field path and the 1-based line) and why."""

    path: Loc
    line: int | None
    message: str
    hint: str = ""


class YamlRefused(Exception):
    """The document cannot be loaded safely; ``problems`` says each reason with its line."""

    def __init__(self, problems: list[YamlProblem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def _line(mark: yaml.Mark | None) -> int | None:
    return mark.line + 1 if mark is not None else None


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose composer refuses, as it reads, what could expand unbounded."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._open_anchors: Counter[str] = Counter()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        line = _line(event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _refused(line, f"more than {MAX_ALIASES} aliases (*name)", "write the values out")
            if event.anchor is not None and self._open_anchors[event.anchor]:
                raise _refused(line, f"alias *{event.anchor} refers to a node that contains it (a cycle)")
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _refused(
                line,
                f"explicit tag {_short(tag)}: tags are not allowed in a campaign file",
                "remove the tag and write the value plainly (quote it to keep it text)",
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _refused(line, f"nested more than {MAX_DEPTH} levels deep")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors[anchor] += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors[anchor] -= 1


def _short(tag: str) -> str:
    """``!!int`` for ``tag:yaml.org,2002:int``, as the file wrote it."""
    return "!!" + tag.removeprefix(STANDARD_TAG) if tag.startswith(STANDARD_TAG) else tag


def _refused(line: int | None, message: str, hint: str = "") -> YamlRefused:
    return YamlRefused([YamlProblem((), line, message, hint)])


@dataclass
class _Survey:
    """The document as aliases expand it: each node measured once, problems collected."""

    sizes: dict[int, int] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)

    def size(self, node: yaml.Node, path: Loc, depth: int) -> int:
        """Values under ``node`` once expanded; refuses an expansion deeper than ``MAX_DEPTH``."""
        if depth > MAX_DEPTH:
            raise _refused(
                _line(node.start_mark), f"nested more than {MAX_DEPTH} levels deep once aliases expand"
            )
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.ScalarNode):
            self._check_number(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                total += self.size(item, (*path, index), depth + 1)
        elif isinstance(node, yaml.MappingNode):
            self._check_keys(node, path)
            for key, value in node.value:
                key_path = (*path, key.value) if isinstance(key, yaml.ScalarNode) else path
                total += self.size(key, key_path, depth + 1) + self.size(value, key_path, depth + 1)
        if total > MAX_NODES:
            raise _refused(
                _line(node.start_mark),
                f"expands to more than {MAX_NODES:,} values (aliases repeat what they name)",
                "write a smaller file, or fewer aliases",
            )
        self.sizes[id(node)] = total
        return total

    def _check_keys(self, node: yaml.MappingNode, path: Loc) -> None:
        first_line: dict[tuple[str, str], int | None] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                continue
            identity = (key.tag, key.value)
            line = _line(key.start_mark)
            if identity in first_line:
                self.problems.append(
                    YamlProblem(
                        (*path, key.value),
                        line,
                        f"key {key.value!r} is given twice ({_lines(first_line[identity], line)}); "
                        "YAML would keep only the last",
                        "keep one of them",
                    )
                )
            else:
                first_line[identity] = line

    def _check_number(self, node: yaml.ScalarNode, path: Loc) -> None:
        line = _line(node.start_mark)
        if node.tag == INT_TAG:
            digits = sum(c.isdigit() for c in node.value)
            if digits > MAX_INT_DIGITS:
                self.problems.append(
                    YamlProblem(path, line, f"an integer of {digits} digits is beyond any setting's range")
                )
        elif node.tag == FLOAT_TAG and not _finite(node.value):
            self.problems.append(
                YamlProblem(path, line, f"{node.value} is not a finite number", _finite_hint(path))
            )


def _finite_hint(path: Loc) -> str:
    """A request rate may be infinite (the saturation point), written ``inf`` without the dot."""
    if any(str(part).endswith("request_rate") for part in path):
        return "for the saturation point write inf (no dot): request_rate: inf"
    return "give a finite value"


def _lines(first: int | None, second: int | None) -> str:
    return f"both on line {first}" if first == second else f"lines {first} and {second}"


def _finite(text: str) -> bool:
    if _NOT_FINITE.match(text):
        return False
    try:
        return math.isfinite(float(text.replace("_", "")))
    except ValueError:
        return True  # a sexagesimal 1:30.5 is finite; PyYAML reads it


def compose_bounded(text: str) -> yaml.Node | None:
    """The document's node graph, every bound checked; raises YamlRefused or a yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        survey = _Survey()
        survey.size(node, (), 1)
        if survey.problems:
            raise YamlRefused(survey.problems)
    return node


def construct(node: yaml.Node | None) -> Any:
    """The Python value of a node graph that ``compose_bounded`` checked."""
    if node is None:
        return None
    return yaml.SafeLoader("").construct_document(node)
