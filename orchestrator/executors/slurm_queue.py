"""The slurm executor's placement: Slurm itself decides where and when a job runs and which
GPUs it gets, so camp's part is only to bound how many of the campaign's jobs it keeps queued or
running (each is one waiting thread here) and to pass on how many GPUs each run needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.executors.placement import Demand, Lease

if TYPE_CHECKING:
    from orchestrator.campaign import Campaign

MAX_JOBS = 32  # the site's max_jobs bounds it further, in the runtime
POLL_S = 2.0  # the runner wakes this often to record job ids as Slurm gives them
GPUS_VARIABLE = "CAMP_SLURM_GPUS"  # the lease tells the runtime what to ask Slurm for


class SlurmQueue:
    name = "Slurm"
    poll_s: float | None = POLL_S

    def __init__(self, slots: int = MAX_JOBS):
        self.slots = slots
        self._in_flight = 0

    def describe(self) -> str:
        return f", up to {self.slots} jobs queued or running at a time"

    def refuse(self, demand: Demand) -> str | None:
        return None  # what a node can give is Slurm's to say: sbatch refuses what it cannot

    def acquire(self, demand: Demand) -> Lease | None:
        if self._in_flight >= self.slots:
            return None
        self._in_flight += 1
        return Lease(env={GPUS_VARIABLE: str(demand.gpus)}, where="a Slurm job")

    def release(self, lease: Lease) -> None:
        self._in_flight = max(0, self._in_flight - 1)

    def close(self) -> None:
        pass  # jobs are the runtime's: it cancels those it must on stop


def make_placement(campaign: Campaign) -> SlurmQueue:
    return SlurmQueue()
