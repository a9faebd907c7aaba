"""Per-run files that must never land in the results: the compose interpolation variables and
the secrets (e.g. HF_TOKEN for gated models).

Both live in a private (0700) temp directory as 0600 files for exactly as long as the run's
container, so a secret never appears on a command line, in a spec, a result or a log, and runs
on different GPUs can go on in parallel without sharing process-wide environment variables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
SECRETS_FILE_VARIABLE = "CAMP_SECRETS_FILE"  # compose.yaml's env_file interpolates this


@dataclass(frozen=True)
class RunEnvFiles:
    compose_env: Path  # interpolation variables for `docker compose --env-file`
    secrets_env: Path  # the container's env_file


def _write_private(path: Path, variables: Mapping[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in variables.items())


@contextlib.contextmanager
def run_env_files(
    compose_variables: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> Iterator[RunEnvFiles]:
    """Write both files for one run; they are deleted when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="camp-run-"))  # mkdtemp makes it 0700
    files = RunEnvFiles(directory / "compose.env", directory / "secrets.env")
    try:
        _write_private(files.secrets_env, {n: environ[n] for n in SECRET_VARIABLES if environ.get(n)})
        _write_private(
            files.compose_env, {**compose_variables, SECRETS_FILE_VARIABLE: str(files.secrets_env)}
        )
        yield files
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def redact(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """``text`` with every secret value replaced, for anything written to results or logs."""
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name} redacted>")
    return text
