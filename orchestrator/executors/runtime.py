"""The runtime half of an executor: how one run of the harness starts, is waited for and stopped.

A runtime (``docker``: a compose container; ``local``: a subprocess) is handed a ``RunRequest``
that already carries its placement's lease — which GPUs the run may use, the variables the
placement grants it, and the command prefix that puts a process where the lease is — and returns
the exit status and output. Runtimes only dispatch; deciding whether a run succeeded is the
runner's job (it validates ``result.json``), so a run that exits 0 without a valid result still
counts as failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from camp_contract.models import BackendName

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class RunRequest:
    campaign: str
    exp_id: str
    cycle: int
    backend: BackendName
    results_root: Path  # host path of the results volume
    spec_path: Path  # host path of the run's spec.json, inside results_root
    timeout_s: float
    gpus: tuple[str, ...] = ()  # device indices or UUIDs this run may use; () = runtime's default
    # From the lease (see placement.py): variables the placement grants the run, and the command
    # prefix that starts a process where the lease is; () = on this machine.
    env: Mapping[str, str] = field(default_factory=dict)
    launcher: tuple[str, ...] = ()
    owner: str = ""  # campaign_owner() of the campaign's results directory
    # For a runtime whose runs outlive camp (a scheduler's jobs; its class says ``reattaches =
    # True``): the job an earlier, killed ``camp run`` left for this run, to wait on instead of
    # starting it again; and where to report the job id it gets, for the manifest.
    attach_job: str | None = None
    on_job: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def container_name(self) -> str:
        """Unique per campaign and results directory as well: two campaigns (even of one name,
        with other results) may share an experiment and run at once on one host, and killing
        "our" container by name must never hit theirs."""
        owner = f"-{self.owner}" if self.owner else ""
        return f"camp-{self.campaign}{owner}-{self.exp_id}-c{self.cycle}"


def campaign_owner(campaign_dir: Path) -> str:
    """What identifies one campaign's runs on a shared host: a hash of its resolved results
    directory (the campaign name alone is shared by two checkouts or two results dirs)."""
    return hashlib.sha256(str(campaign_dir.resolve()).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ExecOutcome:
    exit_code: int | None  # None when the process never started
    output: str  # stdout and stderr, interleaved as they came
    timed_out: bool = False
    error: str | None = None  # why dispatch itself failed (engine gone, image missing, …)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def last_line(self) -> str:
        """The last non-blank line: usually the harness's one-line reason."""
        return next((line.strip() for line in reversed(self.output.splitlines()) if line.strip()), "")


class Runtime(Protocol):
    name: str

    def execute(self, request: RunRequest) -> ExecOutcome:
        """Run the harness on ``request.spec_path`` and wait for it (at most ``timeout_s``,
        then kill it and report ``timed_out``). Safe to call from several threads at once."""
        ...

    def stop(self, request: RunRequest) -> None:
        """Kill the run ``request`` started (Ctrl-C); its ``execute`` then returns."""
        ...

    def cleanup(self, owner: str) -> list[str]:
        """Remove anything a previous, killed ``camp run`` of the campaign whose results
        directory is ``owner`` (campaign_owner) left running. Called under that directory's lock,
        so no live ``camp run`` owns what it finds."""
        ...

    def prepare(self, backends: Collection[BackendName]) -> None:
        """Check, once before the first run, that ``backends`` can run here; raise
        ExecutorUnavailable with the fix if not."""
        ...


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run (these backends) here; the message says how to fix it."""
