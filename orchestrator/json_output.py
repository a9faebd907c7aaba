"""``--json`` for scripts: stdout is exactly one JSON document, everything else goes to stderr.

Numbers are plain JSON numbers in base units (J, s, W, tokens/s); a number that is not there
(NaN, an interval of one cycle) is ``null``, never ``NaN``, which JSON does not have. The shape
of each command's document is documented in docs/api.md."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1  # bumped only when a key is removed or changes meaning; new keys may appear


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: numpy/pandas scalars unwrapped, NaN / NA / inf → None,
    mappings and sequences converted throughout."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if value is None or _is_pandas_missing(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_pandas_missing(value: Any) -> bool:
    """pandas' NA and NaT (only where pandas is loaded: the CLI starts without it)."""
    import sys

    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as a list of row objects, column name → JSON value."""
    return [plain(row) for row in frame.to_dict(orient="records")]


def emit(command: str, document: Mapping[str, Any]) -> None:
    """Print ``document`` (with ``command`` and ``schema_version`` first) as the one JSON
    document on stdout, on one line: compact, so that json's C encoder writes it (an indented
    document goes through its pure-Python one)."""
    click.echo(_compact(plain({"command": command, "schema_version": SCHEMA_VERSION, **document})))


def emit_with_rows(command: str, document: Mapping[str, Any], key: str, rows: Iterable[str]) -> None:
    """``emit`` with one more key last, ``key``: the array of ``rows``, each already one JSON
    value's text (SQLite's ``json_object`` of a run), written a batch at a time (a 100k-run
    status never joins all of them into one string)."""
    head = _compact(plain({"command": command, "schema_version": SCHEMA_VERSION, **document}))
    click.echo(f"{head[:-1]},{_compact(key)}:[", nl=False)
    rows, separator = iter(rows), ""
    while batch := list(itertools.islice(rows, ROWS_PER_WRITE)):
        click.echo(separator + ",".join(batch), nl=False)
        separator = ","
    click.echo("]}")


ROWS_PER_WRITE = 10_000


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def to_stderr(message: str) -> None:
    """Progress and notices while ``--json`` owns stdout."""
    click.echo(message, err=True)
