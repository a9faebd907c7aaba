"""Which GPUs are free: one run per GPU, a tensor-parallel run takes as many as it needs."""

from __future__ import annotations

from collections.abc import Sequence


class GpuPool:
    """With no GPUs listed there is one slot (the executor's default devices), so runs go one
    at a time — the only safe default when camp cannot know what the runs share."""

    def __init__(self, gpus: Sequence[str]):
        self.gpus = list(gpus)
        self._free = list(gpus)
        self._default_slot_free = True

    @property
    def size(self) -> int:
        return max(1, len(self.gpus))

    def fits(self, need: int) -> bool:
        return not self.gpus or need <= len(self.gpus)

    def take(self, need: int) -> tuple[str, ...] | None:
        """``need`` free GPUs (in listed order), or None when not enough are free now."""
        if not self.gpus:
            if not self._default_slot_free:
                return None
            self._default_slot_free = False
            return ()
        need = max(1, need)
        if need > len(self._free):
            return None
        taken, self._free = self._free[:need], self._free[need:]
        return tuple(taken)

    def give(self, gpus: tuple[str, ...]) -> None:
        if not self.gpus:
            self._default_slot_free = True
            return
        self._free = [g for g in self.gpus if g in self._free or g in gpus]
