"""The placement half of an executor: where a run goes and which GPUs it gets.

The runner asks its placement for a lease on each run, head of line in schedule order, and
starts the run (through the runtime) only once it holds one; the lease goes back when the run
ends. ``acquire`` never blocks: ``None`` means "not now". The local GPU pool (gpu_pool.py)
answers at once and frees GPUs only when a run ends; a cluster scheduler grants leases later,
on its own time, so it says how often the runner should ask again (``poll_s``) and can withdraw
what it asked for when the campaign stops (``close``).

What a lease gives the runtime (copied into the ``RunRequest``): the GPUs (device indices or
UUIDs; the runtime turns them into ``CUDA_VISIBLE_DEVICES`` or the compose ``device_ids``), the
variables the placement grants the run (a scheduler's job id, say), and the command prefix that
starts a process where the lease is (``()`` = this machine; a scheduler's, e.g. ``srun
--jobid=…``, elsewhere). The runtime's own code always runs here, in camp's process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from camp_contract.models import BackendName


@dataclass(frozen=True)
class Demand:
    """What one run asks of its placement."""

    campaign: str
    exp_id: str
    cycle: int
    backend: BackendName
    gpus: int  # how many GPUs it needs (its backend parameters say; 1 for most)
    timeout_s: float  # how long it may run, for a scheduler's time limit


@dataclass(frozen=True)
class Lease:
    """A place granted to one run, until it is released."""

    gpus: tuple[str, ...] = ()  # device indices or UUIDs; () = the runtime's default devices
    env: Mapping[str, str] = field(default_factory=dict)  # variables the run is given
    launcher: tuple[str, ...] = ()  # command prefix that runs a process there; () = this machine
    where: str = "this machine"  # for messages

    @property
    def is_here(self) -> bool:
        return not self.launcher


class Placement(Protocol):
    name: str
    slots: int  # the most runs in flight at once
    poll_s: float | None  # how often to ask again while nothing ends; None: only a release frees room

    def describe(self) -> str:
        """What the campaign's start line says about it (``", up to 2 at a time on GPUs 0,1"``)."""
        ...

    def refuse(self, demand: Demand) -> str | None:
        """Why ``demand`` can never be granted (the run fails at once, with this reason); None
        when it can, now or later."""
        ...

    def acquire(self, demand: Demand) -> Lease | None:
        """A lease for this run now, or None when none is free yet. Never blocks."""
        ...

    def release(self, lease: Lease) -> None:
        """The run holding ``lease`` has ended."""
        ...

    def close(self) -> None:
        """The campaign stops: give up whatever was asked for and not yet granted."""
        ...
