"""A fake ``pynvml`` module that behaves like the real one, for tests without a GPU.

Like real NVML: module-level functions over opaque handles, failing with ``NVMLError`` before
``nvmlInit``; power in milliwatts (int); the total-energy counter in millijoules (int), advancing
only every ~100 ms as the driver updates it; ``nvmlDeviceGetPowerUsage`` a 1 s average on Ampere
and newer (instantaneous before); ``NVMLError_NotSupported`` where an older GPU lacks a feature
(no energy counter before Volta) and per-field ``NVML_ERROR_NOT_SUPPORTED`` in field values (no
power fields before Ampere); strings returned as ``str`` (nvidia-ml-py ≥ 11.5).

Install it with ``monkeypatch.setattr(harness.measurement.nvml, "pynvml", FakeNvml([...]))``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186
COUNTER_UPDATE_S = 0.1  # how often the driver refreshes the total-energy counter
AVERAGE_WINDOW_S = 1.0  # what nvmlDeviceGetPowerUsage averages over on Ampere and newer
_SUBSTEPS = 20  # midpoint rule inside each counter step / average window


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_Uninitialized(NVMLError):
    pass


class NVMLError_InvalidArgument(NVMLError):
    pass


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_w: float = 300.0  # constant unless a trace is given
    trace: Callable[[float], float] | None = None  # watts at t seconds after nvmlInit
    has_counter: bool = True  # Volta and newer
    has_power_fields: bool = True  # instant / 1 s average field values
    power_usage_is_average: bool = True  # Ampere and newer: nvmlDeviceGetPowerUsage is a 1 s mean
    temperature_c: int = 45  # constant unless a temperature trace is given
    temperature_trace: Callable[[float], float] | None = None  # °C at t seconds after nvmlInit
    throttle_reasons: int = 0
    compute_pids: tuple[int, ...] = ()  # other processes holding a CUDA context on this GPU
    power_limit_mw: int = 700_000
    pci_bus_id: str = ""  # given by FakeNvml in enumeration (PCI bus) order when left empty
    energy_mj: float = 0.0
    last_update: float = 0.0

    @classmethod
    def pre_volta(cls, uuid: str, power_w: float = 150.0) -> FakeGpu:
        """A Pascal-era GPU: no energy counter, no power field values, instantaneous power."""
        return cls(
            uuid=uuid,
            name="Tesla P100-PCIE-16GB",
            power_w=power_w,
            has_counter=False,
            has_power_fields=False,
            power_usage_is_average=False,
            power_limit_mw=250_000,
        )


class FakeNvml:
    """An instance is installed in place of the ``pynvml`` module."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_FI_DEV_POWER_AVERAGE = NVML_FI_DEV_POWER_AVERAGE
    NVML_FI_DEV_POWER_INSTANT = NVML_FI_DEV_POWER_INSTANT

    def __init__(self, gpus: list[FakeGpu], clock: Callable[[], float] = time.monotonic):
        self.gpus = gpus
        for index, gpu in enumerate(gpus):  # NVML enumerates in PCI bus order
            gpu.pci_bus_id = gpu.pci_bus_id or f"00000000:{0x18 + 0x10 * index:02X}:00.0"
        self.clock = clock
        self.initialised = 0
        self.started = clock()

    # --- lifecycle
    def nvmlInit(self) -> None:
        if self.initialised == 0:
            self.started = self.clock()
            for gpu in self.gpus:
                gpu.last_update = self.started
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialised -= 1

    def _check(self) -> None:
        if self.initialised <= 0:
            raise NVMLError_Uninitialized("Uninitialized")

    # --- devices
    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument("Invalid Argument")
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        self._check()
        return gpu.uuid

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        self._check()
        return gpu.name

    def nvmlDeviceGetPciInfo(self, gpu: FakeGpu) -> Any:
        self._check()
        bus = int(gpu.pci_bus_id.split(":")[1], 16)
        return SimpleNamespace(
            busId=gpu.pci_bus_id, busIdLegacy=gpu.pci_bus_id[4:], domain=0, bus=bus, device=0
        )

    # --- power and energy
    def _watts(self, gpu: FakeGpu, t: float) -> float:
        return gpu.trace(t - self.started) if gpu.trace else gpu.power_w

    def _mean_watts(self, gpu: FakeGpu, start: float, end: float) -> float:
        if gpu.trace is None:
            return gpu.power_w
        step = (end - start) / _SUBSTEPS
        return sum(self._watts(gpu, start + (k + 0.5) * step) for k in range(_SUBSTEPS)) / _SUBSTEPS

    def _advance(self, gpu: FakeGpu) -> None:
        """The driver refreshes the counter every ~100 ms; between updates it stands still."""
        now = self.clock()
        steps = math.floor((now - gpu.last_update) / COUNTER_UPDATE_S + 1e-9)
        for _ in range(steps):
            step_end = gpu.last_update + COUNTER_UPDATE_S
            gpu.energy_mj += self._mean_watts(gpu, gpu.last_update, step_end) * COUNTER_UPDATE_S * 1000
            gpu.last_update = step_end

    def _average_mw(self, gpu: FakeGpu) -> int:
        now = self.clock()
        since = max(self.started, now - AVERAGE_WINDOW_S)
        watts = self._mean_watts(gpu, since, now) if now > since else self._watts(gpu, now)
        return round(watts * 1000)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        self._check()
        if gpu.power_usage_is_average:
            return self._average_mw(gpu)
        return round(self._watts(gpu, self.clock()) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._check()
        if not gpu.has_counter:
            raise NVMLError_NotSupported("Not Supported")
        self._advance(gpu)
        return int(gpu.energy_mj)

    def nvmlDeviceGetFieldValues(self, gpu: FakeGpu, field_ids: list[int]) -> list[Any]:
        """Like the real call: it succeeds, and each value carries its own return code."""
        self._check()
        values = []
        for field_id in field_ids:
            supported = gpu.has_power_fields and field_id in (
                NVML_FI_DEV_POWER_INSTANT,
                NVML_FI_DEV_POWER_AVERAGE,
            )
            milliwatts = 0
            if supported and field_id == NVML_FI_DEV_POWER_INSTANT:
                milliwatts = round(self._watts(gpu, self.clock()) * 1000)
            elif supported:
                milliwatts = self._average_mw(gpu)
            values.append(
                SimpleNamespace(
                    fieldId=field_id,
                    nvmlReturn=NVML_SUCCESS if supported else NVML_ERROR_NOT_SUPPORTED,
                    value=SimpleNamespace(uiVal=milliwatts),
                )
            )
        return values

    # --- the rest of what the sampler and the snapshot read
    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        self._check()
        return SimpleNamespace(gpu=97, memory=40)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> Any:
        self._check()
        return SimpleNamespace(total=80 * 2**30, used=20 * 2**30, free=60 * 2**30)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        """Whole degrees, like the real sensor."""
        self._check()
        if gpu.temperature_trace is not None:
            return round(gpu.temperature_trace(self.clock() - self.started))
        return gpu.temperature_c

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock_type: int) -> int:
        self._check()
        return 1755 if clock_type == NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, gpu: FakeGpu, clock_type: int) -> int:
        self._check()
        return 1980 if clock_type == NVML_CLOCK_SM else 2619

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[Any]:
        self._check()
        return [SimpleNamespace(pid=pid, usedGpuMemory=512 * 2**20) for pid in gpu.compute_pids]

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        self._check()
        return gpu.throttle_reasons

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:
        self._check()
        return gpu.power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, gpu: FakeGpu) -> int:
        self._check()
        return gpu.power_limit_mw

    def nvmlDeviceGetPersistenceMode(self, gpu: FakeGpu) -> int:
        self._check()
        return 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return 12040


def cooling(hot_c: float, idle_c: float, tau_s: float) -> Callable[[float], float]:
    """A GPU cooling down after a run: Newton's law, from ``hot_c`` towards ``idle_c``."""
    return lambda t: idle_c + (hot_c - idle_c) * math.exp(-max(t, 0.0) / tau_s)


def leaking(
    idle_w: float, temperature: Callable[[float], float], idle_c: float, w_per_c: float
) -> Callable[[float], float]:
    """Idle power that rises with temperature (leakage), ``w_per_c`` watts per degree above idle."""
    return lambda t: idle_w + w_per_c * (temperature(t) - idle_c)


class SimulatedClock:
    """A monotonic clock the test moves by hand, so seconds of GPU time take no wall time.
    Install it on both sides: ``FakeNvml(..., clock=clock)`` and as ``nvml.time``."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
