"""Turning a bad campaign file into one readable error listing every problem.

Each problem names the file, the line, the field path and, for a misspelt key or value, the
closest valid one — never a traceback.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from orchestrator.yaml_bounded import YamlRefused, compose_bounded, construct

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    path: Loc
    message: str
    hint: str = ""
    origin: str = ""  # where it was given when not in the file: `-s KEY=VALUE`

    @classmethod
    def unknown_key(cls, path: Loc, key: str, allowed: Iterable[str], *, what: str) -> ConfigProblem:
        return cls(path, f"unknown {what} {key!r}", did_you_mean(key, allowed))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean' hint for a misspelling, else the list of valid choices."""
    options = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"valid: {', '.join(options)}" if options else ""


def split_choices(expected: str) -> list[str]:
    """pydantic's ``'a', 'b' or 'c'`` (a Literal's or an enum's ``expected``) as ``[a, b, c]``."""
    return [s.strip().strip("'") for s in expected.replace(" or ", ", ").split(",") if s.strip()]


def not_one_of(path: Loc, given: Any, allowed: list[str], ctx: dict[str, Any]) -> ConfigProblem:
    """A value outside its allowed ones: them all, and the closest as a did-you-mean. A field's
    own check may add ``advice`` to its error's context (vLLM: a newer method goes in ``extra``)."""
    by_lower = {choice.lower(): choice for choice in allowed}  # fp8 for FP8 is a typo too
    close = difflib.get_close_matches(str(given).lower(), list(by_lower), n=1, cutoff=0.6)
    hints = [f"did you mean {by_lower[close[0]]!r}?"] if close else []
    if ctx.get("advice"):
        hints.append(str(ctx["advice"]))
    return ConfigProblem(path, f"{given!r} is not one of {', '.join(allowed)}", " ".join(hints))


class ConfigError(Exception):
    """A campaign file that cannot be run; ``str()`` is the message shown to the user."""

    def __init__(
        self,
        source: Path,
        problems: list[ConfigProblem],
        lines: dict[Loc, int] | None = None,
        *,
        kind: str = "campaign",  # which file: "campaign", "site"
        origins: dict[Loc, str] | None = None,
    ):
        self.source = source
        self.kind = kind
        self.problems = problems
        self.lines = lines or {}
        self.origins = origins or {}  # field paths set on the command line: their `-s KEY=VALUE`
        super().__init__(self.render())

    def line_of(self, path: Loc) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def origin_of(self, problem: ConfigProblem) -> str | None:
        """The ``-s`` override the problem comes from: its own, or the one that set its field."""
        path = problem.path
        found = (self.origins[path[:end]] for end in range(len(path), 0, -1) if path[:end] in self.origins)
        return problem.origin or next(found, None)

    def render(self) -> str:
        count = len(self.problems)
        overridden = any(self.origin_of(p) for p in self.problems)
        what = f"the {self.kind} file" + (" and its -s overrides" if overridden else "")
        out = [f"{self.source}: {count} problem{'s' if count != 1 else ''} in {what}:"]
        by_line = sorted(
            self.problems, key=lambda p: (self.origin_of(p) is not None, self.line_of(p.path) or 0)
        )
        for problem in by_line:
            line = self.line_of(problem.path)
            where = self.origin_of(problem) or (f"{self.source}:{line}" if line else str(self.source))
            field = ".".join(str(p) for p in problem.path) or "(top level)"
            hint = f" — {problem.hint}" if problem.hint else ""
            out.append(f"  {where}: {field}: {problem.message}{hint}")
        return "\n".join(out)


def load_yaml_with_lines(text: str, source: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML, every expansion bounded (``yaml_bounded``), and remember the (1-based) line of
    every mapping key and list item."""
    try:
        node = compose_bounded(text)
        data = construct(node)
    except YamlRefused as refused:
        problems = [ConfigProblem(p.path, p.message, p.hint) for p in refused.problems]
        refused_at = {p.path: p.line for p in refused.problems if p.line is not None}
        raise ConfigError(source, problems, refused_at) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = ConfigProblem((), f"not valid YAML: {err.problem or err}", "check indentation and quoting")
        raise ConfigError(source, [problem], {(): line} if line else None) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        problem = ConfigProblem((), f"not YAML text: control character U+{err.character:04X} is not allowed")
        raise ConfigError(source, [problem], {(): line}) from None
    except yaml.YAMLError as err:
        raise ConfigError(source, [ConfigProblem((), f"not valid YAML: {err}")]) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), lines)


def model_at(model: Any, loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc`` (to list its valid keys)."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _field_named(annotation, str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list, tuple):
            args = typing.get_args(annotation)
            annotation = args[-1] if args else Any
        else:
            return None
    annotation = _unwrap_optional(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _field_named(model: type[BaseModel], key: str) -> FieldInfo | None:
    """The field a file's key names: by its alias (``workload.n_requests``) or its name."""
    return next(
        (f for name, f in model.model_fields.items() if (f.alias or name) == key),
        None,
    )


def keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        non_none = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(non_none) == 1:
            return non_none[0]
    return annotation


def problems_from_validation(err: ValidationError, model: type[BaseModel]) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, with a did-you-mean where one helps."""
    problems = []
    for error in err.errors(include_url=False):
        loc: Loc = tuple(p for p in error["loc"] if p != "[key]")
        if error["type"] == "extra_forbidden" and loc:
            parent = model_at(model, loc[:-1])
            allowed = keys_of(parent) if parent else []
            what = getattr(parent, "config_noun", "field")  # "stub parameter", "backend", …
            problems.append(ConfigProblem.unknown_key(loc, str(loc[-1]), allowed, what=what))
        else:
            problems += problems_from_details(loc, error)
    return problems


def problems_from_details(loc: Loc, error: Any) -> list[ConfigProblem]:
    """One pydantic error (``ErrorDetails``) of the value at ``loc``, as the researcher reads it."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return [not_one_of(loc, error.get("input"), split_choices(str(ctx["expected"])), ctx)]
    if kind == "missing":
        return [ConfigProblem(loc, "is required but missing")]
    return [ConfigProblem(loc, error["msg"].removeprefix("Value error, "))]
