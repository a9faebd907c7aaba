"""Turning a validation error into the one line a researcher reads as the reason a run failed."""

from __future__ import annotations

from pydantic import ValidationError


def first_error(err: ValidationError, prefix: str = "") -> str:
    """``field.path: message`` of the first problem — the one to fix first — on one line."""
    first = err.errors(include_url=False)[0]
    where = prefix + ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return (f"{where}: {first['msg']}" if where else first["msg"]) + more
