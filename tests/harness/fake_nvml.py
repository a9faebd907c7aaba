"""A fake ``pynvml`` module that behaves like the real one, for tests without a GPU.

Like real NVML: module-level functions over opaque handles; power in milliwatts (int); the
total-energy counter in millijoules (int), advancing only every ~100 ms as the driver updates it;
``NVMLError_NotSupported`` where an older GPU lacks a feature (no energy counter before Volta,
no power field values before Ampere); strings returned as ``str`` (nvidia-ml-py ≥ 11.5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186
COUNTER_UPDATE_S = 0.1


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_Uninitialized(NVMLError):
    pass


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_w: float = 300.0  # constant unless a trace is given
    trace: Any = None  # callable t -> watts, t in seconds since init
    has_counter: bool = True
    has_power_fields: bool = True
    temperature_c: int = 45
    throttle_reasons: int = 0
    power_limit_mw: int = 700_000
    energy_mj: float = 0.0
    last_update: float = field(default=0.0)


class FakeNvml:
    """An instance is installed in place of the ``pynvml`` module."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVML_SUCCESS = NVML_SUCCESS
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_FI_DEV_POWER_AVERAGE = NVML_FI_DEV_POWER_AVERAGE
    NVML_FI_DEV_POWER_INSTANT = NVML_FI_DEV_POWER_INSTANT

    def __init__(self, gpus: list[FakeGpu], clock: Any = time.monotonic):
        self.gpus = gpus
        self.clock = clock
        self.initialised = 0
        self.started = clock()

    # --- lifecycle
    def nvmlInit(self) -> None:
        self.initialised += 1
        self.started = self.clock()
        for gpu in self.gpus:
            gpu.last_update = self.started

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
            raise NVMLError("Invalid Argument")
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        return gpu.uuid

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str:
        return gpu.name

    # --- power and energy
    def _watts(self, gpu: FakeGpu, t: float) -> float:
        return gpu.trace(t - self.started) if gpu.trace else gpu.power_w

    def _advance(self, gpu: FakeGpu) -> None:
        """The driver refreshes the counter every ~100 ms; between updates it stands still."""
        now = self.clock()
        while now - gpu.last_update >= COUNTER_UPDATE_S:
            step_end = gpu.last_update + COUNTER_UPDATE_S
            midpoint = gpu.last_update + COUNTER_UPDATE_S / 2
            gpu.energy_mj += self._watts(gpu, midpoint) * COUNTER_UPDATE_S * 1000
            gpu.last_update = step_end

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        self._check()
        return round(self._watts(gpu, self.clock()) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._check()
        if not gpu.has_counter:
            raise NVMLError_NotSupported("Not Supported")
        self._advance(gpu)
        return int(gpu.energy_mj)

    def nvmlDeviceGetFieldValues(self, gpu: FakeGpu, field_ids: list[int]) -> list[Any]:
        self._check()
        values = []
        for field_id in field_ids:
            supported = gpu.has_power_fields and field_id in (
                NVML_FI_DEV_POWER_INSTANT,
                NVML_FI_DEV_POWER_AVERAGE,
            )
            values.append(
                SimpleNamespace(
                    fieldId=field_id,
                    nvmlReturn=NVML_SUCCESS if supported else NVML_ERROR_NOT_SUPPORTED,
                    value=SimpleNamespace(
                        uiVal=round(self._watts(gpu, self.clock()) * 1000) if supported else 0
                    ),
                )
            )
        return values

    # --- the rest of what the sampler and the snapshot read
    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        return SimpleNamespace(gpu=97, memory=40)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> Any:
        return SimpleNamespace(total=80 * 2**30, used=20 * 2**30, free=60 * 2**30)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        return gpu.temperature_c

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock_type: int) -> int:
        return 1980 if clock_type == NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, gpu: FakeGpu, clock_type: int) -> int:
        return 1980 if clock_type == NVML_CLOCK_SM else 2619

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        return gpu.throttle_reasons

    def nvmlDeviceGetEnforcedPowerLimit(self, gpu: FakeGpu) -> int:
        return gpu.power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, gpu: FakeGpu) -> int:
        return 700_000

    def nvmlDeviceGetPersistenceMode(self, gpu: FakeGpu) -> int:
        return 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040
