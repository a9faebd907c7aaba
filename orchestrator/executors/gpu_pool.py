"""The local GPU pool, the placement of every executor today: the GPUs the campaign lists, on
this machine; one run per GPU, a tensor-parallel run takes as many as it needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.executors.placement import Demand, Lease

if TYPE_CHECKING:
    from orchestrator.campaign import Campaign


class LocalGpuPool:
    """With no GPUs listed there is one slot (the runtime's default devices), so runs go one
    at a time — the only safe default when camp cannot know what the runs share."""

    name = "local GPUs"
    poll_s: float | None = None  # leases are granted at once; only a run's end frees GPUs

    def __init__(self, gpus: Sequence[str]):
        self.gpus = list(gpus)
        self._free = list(gpus)
        self._default_slot_free = True

    @property
    def slots(self) -> int:
        return max(1, len(self.gpus))

    def describe(self) -> str:
        return f", up to {self.slots} at a time on GPUs {','.join(self.gpus)}" if self.slots > 1 else ""

    def refuse(self, demand: Demand) -> str | None:
        if not self.gpus or demand.gpus <= len(self.gpus):
            return None
        return f"needs {demand.gpus} GPUs; the campaign lists {len(self.gpus)} (gpus)"

    def acquire(self, demand: Demand) -> Lease | None:
        """``demand.gpus`` free GPUs (in listed order), or None when not enough are free now."""
        if not self.gpus:
            if not self._default_slot_free:
                return None
            self._default_slot_free = False
            return Lease()
        need = max(1, demand.gpus)
        if need > len(self._free):
            return None
        taken, self._free = self._free[:need], self._free[need:]
        return Lease(gpus=tuple(taken))

    def release(self, lease: Lease) -> None:
        if not self.gpus:
            self._default_slot_free = True
            return
        self._free = [g for g in self.gpus if g in self._free or g in lease.gpus]

    def close(self) -> None:
        pass  # nothing is ever pending


def make_placement(campaign: Campaign) -> LocalGpuPool:
    """The registry's hook: the GPUs the campaign lists (``gpus:``), on this machine."""
    return LocalGpuPool(campaign.gpus)
