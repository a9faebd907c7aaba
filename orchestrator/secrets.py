"""Secrets (e.g. HF_TOKEN for gated models) reach a container through an env file readable only
by the user, never through the command line, the spec, the results or the logs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
SECRETS_FILE_VARIABLE = "CAMP_SECRETS_FILE"  # compose.yaml's env_file interpolates this


@contextlib.contextmanager
def secrets_env_file(environ: Mapping[str, str] = os.environ) -> Iterator[Path]:
    """A 0600 env file (in a 0700 private directory) with the secrets set on the host; it is
    deleted when the block ends, so it lives only as long as the container that reads it."""
    directory = Path(tempfile.mkdtemp(prefix="camp-secrets-"))
    path = directory / "secrets.env"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            for name in SECRET_VARIABLES:
                if environ.get(name):
                    handle.write(f"{name}={environ[name]}\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def redact(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """``text`` with every secret value replaced, for anything written to results or logs."""
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name} redacted>")
    return text
