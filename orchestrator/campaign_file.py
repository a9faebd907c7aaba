"""Reading a campaign file's text: only a regular file, only so many bytes, only UTF-8 text.

A path can name a FIFO (reading it waits forever for a writer), a device such as ``/dev/zero``
(endless), a huge log or a binary; each is refused with what it is, before reading more than the
cap, so ``camp`` answers in a moment whatever it is handed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.config_errors import ConfigError, ConfigProblem

MAX_CAMPAIGN_BYTES = 1024 * 1024  # a campaign is a few hundred lines; inline prompts fit in this

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse(path: Path, message: str, hint: str = "", line: int | None = None) -> ConfigError:
    return ConfigError(path, [ConfigProblem((), message, hint)], {(): line} if line else None)


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, else None."""
    return next(
        (name for test, name in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a regular file"
    )


def read_campaign_text(path: Path) -> str:
    """The file's text; raises ConfigError saying what the file is if it is no campaign file."""
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is not None:
            raise _refuse(path, f"is {kind}, not a campaign file", "name a YAML file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as handle:
            kind = _kind(os.fstat(handle.fileno()).st_mode)  # replaced since the check above
            if kind is not None:
                raise _refuse(path, f"is {kind}, not a campaign file", "name a YAML file")
            data = handle.read(MAX_CAMPAIGN_BYTES + 1)
    except OSError as err:
        raise _refuse(path, f"cannot read the file: {err.strerror or err}") from None
    if len(data) > MAX_CAMPAIGN_BYTES:
        raise _refuse(
            path,
            f"is larger than {MAX_CAMPAIGN_BYTES:,} bytes: too large to be a campaign file",
            "name the campaign's YAML file",
        )
    return _decoded(path, data)


def _decoded(path: Path, data: bytes) -> str:
    nul = data.find(b"\0")
    if nul >= 0:
        raise _refuse(
            path,
            f"is binary data (a NUL byte at byte {nul}), not YAML text",
            "name the campaign's YAML file",
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _refuse(
            path,
            f"is not UTF-8 text: byte 0x{data[err.start]:02x} at byte {err.start} is invalid ({err.reason})",
            "save the file as UTF-8",
            line=data.count(b"\n", 0, err.start) + 1,
        ) from None
