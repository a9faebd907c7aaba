"""Per-run files that must never land in the results: the compose interpolation variables and
the secrets (e.g. HF_TOKEN for gated models).

Both live in a private (0700) temp directory as 0600 files for exactly as long as the run's
container, so a secret never appears on a command line, in a spec, a result or a log, and runs
on different GPUs can go on in parallel without sharing process-wide environment variables.

The secrets are not handed to the container as environment (``env_file`` would copy them into
the container's config, which ``docker inspect`` shows to anyone with access to the engine):
compose bind-mounts the secrets file read-only at ``camp_contract.secrets_mount.SECRETS_MOUNT``
and the harness reads it. The directory's name carries camp's pid, so a ``camp run`` killed
by ``kill -9`` leaves nothing for long: the next start of camp removes the directories of
processes that are gone (``sweep_stale``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from camp_contract.secrets_mount import SECRET_VARIABLES

SECRETS_FILE_VARIABLE = "CAMP_SECRETS_FILE"  # compose.yaml mounts this file at SECRETS_MOUNT
DIRECTORY_PREFIX = "camp-run-"
_OWNED_DIRECTORY = re.compile(rf"^{DIRECTORY_PREFIX}(\d+)-")


@dataclass(frozen=True)
class RunEnvFiles:
    compose_env: Path  # interpolation variables for `docker compose --env-file`
    secrets_file: Path  # mounted read-only into the container; JSON {name: value}


class UnsafeValue(ValueError):
    """A value that an env file cannot hold as one line of one variable."""


def env_file_line(name: str, value: str) -> str:
    """``NAME='value'``: single-quoted, so compose neither interpolates ``$`` nor unescapes
    anything; a value that could end the quotes or the line is refused, never written."""
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        raise UnsafeValue(f"{name!r} is not an environment variable name")
    bad = sorted({c for c in value if c == "'" or c == "\\" or not c.isprintable()})
    if bad:
        raise UnsafeValue(
            f"{name}={value!r}: contains {', '.join(repr(c) for c in bad)}, which an env file cannot "
            "hold safely; rename or move it"
        )
    return f"{name}='{value}'\n"


def owned_prefix() -> str:
    """The name prefix of every temp directory this camp process makes: ``sweep_stale`` removes
    them once the process is gone."""
    return f"{DIRECTORY_PREFIX}{os.getpid()}-"


def _create_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def secret_values(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {n: environ[n] for n in SECRET_VARIABLES if environ.get(n)}


@contextlib.contextmanager
def run_env_files(
    compose_variables: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> Iterator[RunEnvFiles]:
    """Write both files for one run; they are deleted when the block ends. Raises UnsafeValue
    (before anything is written) for a variable no env file can hold."""
    lines = "".join(env_file_line(n, v) for n, v in compose_variables.items())
    directory = Path(tempfile.mkdtemp(prefix=owned_prefix()))  # 0700
    files = RunEnvFiles(directory / "compose.env", directory / "secrets.json")
    try:
        _create_private(files.secrets_file, json.dumps(secret_values(environ)))
        _create_private(
            files.compose_env, lines + env_file_line(SECRETS_FILE_VARIABLE, str(files.secrets_file))
        )
        yield files
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def sweep_stale(temp_root: Path | None = None) -> list[Path]:
    """Remove the per-run directories whose camp process is gone (killed by ``kill -9``), with
    the secrets they may hold; the ones removed."""
    root = Path(temp_root or tempfile.gettempdir())
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            owner = _OWNED_DIRECTORY.match(entry.name)
            if owner is None or _alive(int(owner.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink() and entry.stat().st_uid == os.getuid():
                    shutil.rmtree(entry)
                    removed.append(entry)
    return removed


def redact(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """``text`` with every secret value replaced, for anything written to results or logs."""
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name} redacted>")
    return text
