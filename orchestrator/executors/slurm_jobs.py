"""Slurm's command line, as the slurm executor asks it about jobs: ``scontrol`` for one job's
state (it answers without accounting storage, for finished jobs too, for ``MinJobAge``),
``squeue`` for this user's live jobs by name, ``scancel`` for one job by id — never by name or
user, so camp cancels nothing it did not submit."""

from __future__ import annotations

import getpass
import subprocess
from dataclasses import dataclass

COMMAND_TIMEOUT_S = 30.0
LIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING"}
)


class SlurmUnavailable(RuntimeError):
    """A Slurm command could not be run or did not answer."""


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL, …
    exit_code: int | None = None  # the batch script's, where Slurm says
    node: str | None = None
    reason: str | None = None  # why it is pending, or how it ended

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def running(self) -> bool:
        return self.state in {"RUNNING", "COMPLETING"}


def _slurm(*args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SlurmUnavailable(f"`{args[0]}` failed: {err}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SlurmUnavailable(f"`{' '.join(args[:2])}` failed: {last}")
    return done.stdout


def parse_scontrol(job_id: str, text: str) -> JobState | None:
    """One job from ``scontrol -o show job`` (key=value pairs on one line)."""
    fields = dict(
        token.split("=", 1) for token in text.strip().split() if "=" in token and not token.startswith("=")
    )
    state = fields.get("JobState")
    if not state:
        return None
    exit_code = None
    if ":" in fields.get("ExitCode", ""):
        code, signal = fields["ExitCode"].split(":", 1)
        exit_code = int(code) if code.isdigit() else None
        if signal.isdigit() and int(signal):
            exit_code = 128 + int(signal)
    node = fields.get("NodeList")
    reason = fields.get("Reason")
    return JobState(
        job_id,
        state,
        exit_code,
        None if node in (None, "(null)") else node,
        None if reason == "None" else reason,
    )


def job_state(job_id: str) -> JobState | None:
    """The job's state, or None when slurmctld no longer knows it (or never did)."""
    try:
        text = _slurm("scontrol", "-o", "show", "job", job_id)
    except SlurmUnavailable as err:
        if "Invalid job id" in str(err):
            return None
        raise
    return parse_scontrol(job_id, text)


def live_jobs(name: str) -> list[str]:
    """The ids of this user's queued or running jobs called ``name``, oldest first."""
    text = _slurm("squeue", "-h", "-u", getpass.getuser(), "-n", name, "-o", "%i %T")
    jobs = [line.split() for line in text.splitlines() if line.strip()]
    return sorted(
        (job for job, state in jobs if state in LIVE_STATES), key=lambda job: int(job.split("_")[0])
    )


def cancel(job_id: str) -> None:
    """Cancel one job by id; a job already gone is not an error."""
    try:
        _slurm("scancel", job_id)
    except SlurmUnavailable as err:
        if "Invalid job id" not in str(err) and "already completing" not in str(err):
            raise


def problem() -> str | None:
    """None when Slurm's commands answer here; else why not."""
    try:
        _slurm("sinfo", "-h", "-o", "%P")
    except SlurmUnavailable as err:
        return f"Slurm does not answer ({err}); run scripts/provision-slurm.sh on a root Debian machine"
    return None
