"""``error.json``: why a run failed, as the harness saw it (harness → host).

The harness writes it, atomically, beside the spec for every failure it can catch, then exits
non-zero; the host records its reason for the run. A run that died before it could say (killed
for memory, SIGKILL, a crash before Python started) leaves none: the host then falls back to the
last line the container printed. Like ``result.json``, the host removes it before each attempt.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from camp_contract.atomic import atomic_write_text

FAILURE_SCHEMA_VERSION = 1

# Where the run stopped: its spec could not be read or validated; preflight found problems
# before anything was measured; or the run itself (model files, load, measurement) failed.
FailureStage = Literal["spec", "preflight", "run"]


class RunFailure(BaseModel):
    """One failed attempt of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    schema_version: Literal[1] = 1  # = FAILURE_SCHEMA_VERSION
    # None only where the spec could not be read and its path is not in the results layout.
    exp_id: str | None
    cycle: int | None = Field(ge=0)
    stage: FailureStage
    error_type: str  # the exception's class name, e.g. RunError, ValidationError, ModelFetchError
    message: str  # one line, the reason a researcher reads

    @field_validator("message")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    def reason(self) -> str:
        """The failure as the host records it: ``[stage] ErrorType: message``."""
        return f"[{self.stage}] {self.error_type}: {self.message}"


def write_failure(path: Path, failure: RunFailure) -> bool:
    """Write ``failure`` to ``path`` atomically; False where it cannot be written (the run
    directory gone or read-only): the reason then travels only on stderr."""
    try:
        atomic_write_text(path, failure.model_dump_json(indent=2))
    except OSError:
        return False
    return True


def read_failure(path: Path) -> RunFailure | None:
    """The failure recorded at ``path``; None where there is none or it is unreadable."""
    with contextlib.suppress(OSError, ValidationError):
        return RunFailure.model_validate_json(path.read_bytes())
    return None
