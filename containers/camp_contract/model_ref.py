"""How a campaign names a model, read the same way on both sides: a Hub id (``org/name``, pinned
to a branch, tag or commit as ``org/name@<revision>``) or a local checkpoint path. The host
validates campaign files with these; the harness fetches by them."""

from __future__ import annotations

REVISION_SEPARATOR = "@"
LOCAL_PATH_PREFIXES = ("/", "./", "../", "~")


def looks_like_path(model: str) -> bool:
    """A local checkpoint, as opposed to a hub id such as ``org/name``."""
    return model.startswith(LOCAL_PATH_PREFIXES)


def split_revision(model: str) -> tuple[str, str | None]:
    """``org/name@rev`` → (``org/name``, ``rev``); Hub repo ids cannot contain ``@``.
    ValueError names the fix (the campaign schema validates with this too)."""
    repo_id, sep, revision = model.partition(REVISION_SEPARATOR)
    if sep and not (repo_id and revision):
        raise ValueError(f"model {model!r}: write a pinned model as org/name@<branch, tag or commit>")
    return repo_id, revision or None
