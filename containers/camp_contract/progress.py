"""``progress.json``: which phase a run in flight is in (harness → host).

The harness rewrites it atomically (not fsynced: it is a hint), beside the spec, each time
its run enters a phase; the host reads it while the run is in flight to show the phase and how
long it has lasted. It travels
through the results volume like every other file of the contract, so it works alike under every
executor (docker, local, a Slurm node on shared storage). It is advisory: a harness that cannot
write it still runs, and a host that cannot read it shows the run without a phase. Like
``result.json``, the host removes it before each attempt.

``PHASES`` is the one list of phases, in the order a run goes through them, with what the host
says for each; a new kind of run (serving) adds its phases here. ``since`` is wall-clock time
(seconds since the epoch), so a host on another machine of a cluster can read it too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from camp_contract.atomic import atomic_write_text

PHASE_PREFLIGHT = "preflight"
PHASE_MODEL_FILES = "model_files"
PHASE_SETTLE = "settle"
PHASE_BASELINE = "baseline"
PHASE_LOAD = "load"
PHASE_WARMUP = "warmup"
PHASE_WINDOW = "window"
PHASE_DRAIN = "drain"  # serving mode: the requests still in flight after the window
PHASE_FINISHING = "finishing"

# Phase → what the host shows while a run is in it, in the order a run goes through them.
PHASES: dict[str, str] = {
    PHASE_PREFLIGHT: "preflight checks",
    PHASE_MODEL_FILES: "fetching model files",
    PHASE_SETTLE: "waiting for the GPUs to settle",
    PHASE_BASELINE: "idle baseline",
    PHASE_LOAD: "loading the model",
    PHASE_WARMUP: "warmup",
    PHASE_WINDOW: "measured window",
    PHASE_DRAIN: "draining requests",
    PHASE_FINISHING: "writing results",
}


class RunProgress(BaseModel):
    """The phase a run is in and when it entered it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    phase: str
    since: float  # seconds since the epoch (time.time())

    @field_validator("phase")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PHASES:
            raise ValueError(f"unknown phase {value!r}; phases: {', '.join(PHASES)}")
        return value

    def describe(self) -> str:
        return PHASES[self.phase]


def write_progress(path: Path, phase: str, clock: Callable[[], float] = time.time) -> bool:
    """Say that the run entered ``phase`` now; False where the file cannot be written (the run
    goes on: progress is for the eyes, never a reason to fail a measurement). It never creates
    the run directory: a run without one fails its preflight having left nothing behind."""
    progress = RunProgress(phase=phase, since=clock())
    if not path.parent.is_dir():
        return False
    try:
        # Not fsynced: a hint rewritten at every phase, whose loss a crash makes moot; the
        # 16 fsyncs of a run's 8 phases cost ~40 ms of every run on a local disk.
        atomic_write_text(path, progress.model_dump_json(), durable=False)
    except OSError:
        return False
    return True


def read_progress(path: Path) -> RunProgress | None:
    """The phase recorded at ``path``; None where there is none yet or it is unreadable."""
    with contextlib.suppress(OSError, ValidationError):
        return RunProgress.model_validate_json(path.read_bytes())
    return None
