"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Used by both sides (the harness for results, the host for specs and tables): write to a temp
file in the same directory, fsync, then ``os.replace`` — a crash or full disk leaves at most a
stray temp file, never a truncated result. ``durable=False`` skips the two fsyncs (file and
directory) for files that are only a hint and rewritten often (``progress.json``): still never
half a file to a reader, but a machine crash may lose the last write.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on clean exit it replaces ``target`` atomically
    (on disk before this returns unless ``durable`` is False)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:  # from here on a Ctrl-C anywhere still removes the temp file
        os.close(fd)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a published file gets the usual mode
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if durable:
        _fsync_dir(target.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(target: Path, text: str, durable: bool = True) -> None:
    with atomic_path(target, durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_with(target: Path, writer: Callable[[Path], object]) -> None:
    """Let ``writer`` (e.g. a pyarrow or pandas writer) fill the temp file, then publish it."""
    with atomic_path(target) as tmp:
        writer(tmp)
