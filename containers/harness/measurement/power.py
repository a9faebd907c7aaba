"""What every power source provides: the devices it meters and one reading of all of them.

A reading carries power (W) and, where the device has one, its cumulative energy counter (J),
both stamped with the harness's monotonic clock, so the measured window — marked on the same
clock — can be cut out of the samples exactly. A run meters one GPU source (the headline) and
any extra sources beside it (``composed.py``): their devices ride in the same reading, under
``extra``, read right after the GPUs'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class DeviceInfo:
    index: int  # NVML's index, only to get a handle; selection and results use the UUID
    uuid: str
    name: str
    pci_bus_id: str = ""  # the order CUDA counts in under CUDA_DEVICE_ORDER=PCI_BUS_ID


@dataclass(frozen=True)
class DeviceReading:
    power_w: float  # instantaneous where the device reports it, else the device's own average
    energy_j: float | None  # cumulative counter; None where the device has none
    power_avg_1s_w: float | None = None
    gpu_util_pct: float | None = None
    mem_used_bytes: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: float | None = None
    throttle_reasons: int | None = None


@dataclass(frozen=True)
class Reading:
    t_s: float  # time.monotonic() of the reading
    devices: tuple[DeviceReading, ...] = field(default_factory=tuple)  # the GPU source's
    # each extra source's devices by source name, read right after ``devices``
    extra: Mapping[str, tuple[DeviceReading, ...]] = field(default_factory=dict)

    def of_source(self, name: str) -> Reading:
        """This reading as if ``name``'s devices were its only ones (its energy, estimated alone)."""
        return Reading(self.t_s, self.extra.get(name, ()))

    @property
    def power_w(self) -> float:
        return sum(d.power_w for d in self.devices)

    @property
    def energy_j(self) -> float | None:
        values = [d.energy_j for d in self.devices]
        return None if any(v is None for v in values) else float(sum(v for v in values if v is not None))


class SourceUnavailable(RuntimeError):
    """A source that cannot meter here; the message says why and what to do about it."""


class PowerSource(Protocol):
    kind: str  # its name in the registry (camp_contract.power_sources), recorded in the result

    def devices(self) -> list[DeviceInfo]: ...

    def read(self) -> Reading: ...

    def busy(self) -> contextlib.AbstractContextManager[None]:
        """Entered while the backend computes. A real GPU needs no telling (a no-op); the
        synthetic source raises its power while inside, which is how its trace is known."""
        ...

    def other_processes(self) -> dict[str, int]:
        """Per device UUID, how many compute processes hold it — asked before the harness opens
        a context of its own, so any count is someone else's draw in the baseline and the run."""
        ...

    def describe(self) -> list[dict[str, Any]]:
        """Per-device facts for the environment snapshot (uuid, name, limits, clocks…)."""
        ...

    def driver(self) -> dict[str, Any]:
        """Driver-level facts (driver and CUDA versions) for the environment snapshot."""
        ...

    def close(self) -> None: ...


@contextlib.contextmanager
def no_op() -> Iterator[None]:
    yield


class SimpleSource:
    """The defaults of a source that only reads: nothing to do while the backend computes, no
    processes to count, no driver, nothing to close; ``describe`` lists its devices. A source
    subclasses it and writes ``kind``, ``devices`` and ``read``."""

    kind: str

    def devices(self) -> list[DeviceInfo]:
        raise NotImplementedError

    def busy(self) -> contextlib.AbstractContextManager[None]:
        return no_op()

    def other_processes(self) -> dict[str, int]:
        return {}

    def describe(self) -> list[dict[str, Any]]:
        return [{"index": d.index, "uuid": d.uuid, "name": d.name} for d in self.devices()]

    def driver(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
