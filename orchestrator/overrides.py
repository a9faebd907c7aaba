"""Overrides from the command line: ``-s cycles=3 -s backends.pytorch.grid.batch_size=[1,8]``.

Each override is a dotted path and a YAML value (a flow scalar, list or mapping, read by the same
bounded loader as the file). They are applied to the file's data before it is validated, so they
are typed by the same schema and their problems are reported like the file's — with the field
and a did-you-mean — but naming the ``-s`` option instead of a line. A shared-grid key written
with a dot (``grid.workload.max_output_tokens``) is found whole: at each level the longest run of
segments that names a key there (in the file, or a field of the schema) is taken as one key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from orchestrator.config_errors import ConfigProblem, Loc, keys_of, model_at
from orchestrator.yaml_bounded import YamlRefused, compose_bounded, construct

OPTION = "-s"


@dataclass(frozen=True)
class Override:
    """One ``-s KEY=VALUE`` as given, its path's segments and its value."""

    text: str
    segments: tuple[str, ...]
    value: Any

    @property
    def origin(self) -> str:
        """How an error names it: ``-s cycles=3``."""
        return f"{OPTION} {self.text}"


def parse_override(text: str) -> Override | ConfigProblem:
    """``KEY=VALUE`` as an Override, or the problem with it."""
    origin = f"{OPTION} {text}"
    key, sep, raw = text.partition("=")
    segments = tuple(key.strip().split("."))
    if not sep or not all(segments):
        example = f"e.g. {OPTION} cycles=3"
        return ConfigProblem(
            (key.strip() or text,), "give a dotted field and a value, KEY=VALUE", example, origin
        )
    try:
        value = construct(compose_bounded(raw))
    except YamlRefused as refused:
        return ConfigProblem(segments, f"the value is refused: {refused}", origin=origin)
    except yaml.YAMLError as err:
        detail = getattr(err, "problem", None) or err
        return ConfigProblem(
            segments, f"the value is not YAML: {detail}", "quote text, e.g. name='a b'", origin
        )
    return Override(text, segments, value)


@dataclass(frozen=True)
class Applied:
    """The file's data with the overrides set (a copy); where each landed (its field path → its
    ``-s`` text, so an error there names it); the problems of those that could not be set."""

    data: dict[str, Any]
    origins: dict[Loc, str]
    problems: list[ConfigProblem]


def apply_overrides(data: dict[str, Any], texts: Sequence[str], model: type[BaseModel]) -> Applied:
    """Set each ``KEY=VALUE`` in a copy of ``data``; the schema ``model`` tells dotted keys apart."""
    out = _copy(data)
    origins: dict[Loc, str] = {}
    set_by: dict[Loc, str] = {}
    problems: list[ConfigProblem] = []
    for text in texts:
        parsed = parse_override(text)
        if isinstance(parsed, ConfigProblem):
            problems.append(parsed)
            continue
        landed = _set(out, parsed.segments, parsed.value, model)
        if landed.problem is not None:
            problems.append(ConfigProblem(landed.loc, landed.problem, origin=parsed.origin))
        elif landed.loc in set_by:
            twice = f"is set twice ({set_by[landed.loc]} and {parsed.origin})"
            problems.append(ConfigProblem(landed.loc, twice, "keep one of them", origin=parsed.origin))
        else:
            set_by[landed.loc] = origins[landed.loc] = parsed.origin
            if landed.created is not None:  # a mapping it made: a problem there is the override's too
                origins.setdefault(landed.created, parsed.origin)
    return Applied(out, origins, problems)


@dataclass(frozen=True)
class _Landed:
    loc: Loc  # the field path the value was set at (or could not be)
    created: Loc | None = None  # the first mapping made on the way, if any
    problem: str | None = None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set(data: dict[str, Any], segments: tuple[str, ...], value: Any, model: type[BaseModel]) -> _Landed:
    """Set ``value`` at ``segments``, making the mappings on the way that the file lacks."""
    node: dict[str, Any] = data
    loc: Loc = ()
    created: Loc | None = None
    rest = segments
    while True:
        key, rest = _next_key(node, loc, rest, model)
        loc = (*loc, key)
        if not rest:
            node[key] = value
            return _Landed(loc, created)
        child = node.get(key)
        if child is None:
            child = node[key] = {}
            created = created or loc
        if not isinstance(child, dict):
            shown = ".".join(map(str, loc))
            whole = f" (give the whole list: {OPTION} {shown}=[…])" if isinstance(child, list) else ""
            return _Landed(
                loc, problem=f"cannot set {'.'.join(segments)}: {shown} is {child!r}, not a mapping{whole}"
            )
        node = child


def _next_key(
    node: dict[str, Any], loc: Loc, rest: tuple[str, ...], model: type[BaseModel]
) -> tuple[str, tuple[str, ...]]:
    """The key ``rest`` starts with here: the longest dotted run of its segments that the file or
    the schema has at ``loc`` (``workload.max_output_tokens`` in a grid); where keys are dotted
    and none matches, all of it (a misspelt dotted key, for the did-you-mean); else its first
    segment."""
    holder = model_at(model, loc)
    known = set(map(str, node)) | (set(keys_of(holder)) if holder is not None else set())
    for end in range(len(rest), 1, -1):
        joined = ".".join(rest[:end])
        if joined in known:
            return joined, rest[end:]
    if rest[0] not in known and any("." in key for key in known):  # a misspelt dotted key, whole
        return ".".join(rest), ()
    return rest[0], rest[1:]
