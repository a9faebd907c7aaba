"""A fake ``pynvml`` module that behaves like the real one, for tests without a GPU.

Like real NVML: module-level functions over opaque handles, failing with ``NVMLError`` before
``nvmlInit``; power in milliwatts (int); the total-energy counter in millijoules (int), advancing
only at the driver's updates — about every 100 ms, each update a little early or late (jitter),
and between updates it stands still; ``nvmlDeviceGetPowerUsage`` a 1 s average on Ampere and
newer (instantaneous before); the instant-power field sensed part-time, as Yang et al. found on
A100/H100 ("Part-time Power Measurements: nvidia-smi's Lack of Attention", arXiv:2312.02741,
SC24): refreshed every 100 ms with the mean of a 25 ms slice of that period, blind to the other
75 ms; ``NVMLError_NotSupported`` where an older GPU lacks a feature (no energy counter before
Volta) and per-field ``NVML_ERROR_NOT_SUPPORTED`` in field values (no power fields before
Ampere; ECC mode on most GeForce cards, MIG mode before Ampere); modes as NVML's ``[current,
pending]`` pair; strings returned as ``str`` (nvidia-ml-py ≥ 11.5).

Install it with ``monkeypatch.setattr(harness.measurement.nvml, "pynvml", FakeNvml([...]))``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_ID_CURRENT = 0
NVML_CLOCK_ID_APP_CLOCK_TARGET = 1
NVML_CLOCK_ID_APP_CLOCK_DEFAULT = 2
NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186
COUNTER_UPDATE_S = 0.1  # how often the driver refreshes the total-energy counter
COUNTER_JITTER_S = 0.01  # each update lands up to this much before or after its 100 ms mark
AVERAGE_WINDOW_S = 1.0  # what nvmlDeviceGetPowerUsage averages over on Ampere and newer
POWER_SENSE_PERIOD_S = 0.1  # the instant-power field is refreshed this often (A100/H100) ...
POWER_SENSE_SLICE_S = 0.025  # ... with the mean power over this slice at the start of the period
_SUBSTEPS = 20  # midpoint rule inside each counter step / average window (when no trace_energy)


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
    trace_energy: Callable[[float], float] | None = None  # exact joules of ``trace`` from 0 to t
    has_counter: bool = True  # Volta and newer
    has_power_fields: bool = True  # instant / 1 s average field values
    power_usage_is_average: bool = True  # Ampere and newer: nvmlDeviceGetPowerUsage is a 1 s mean
    temperature_c: int = 45  # constant unless a temperature trace is given
    temperature_trace: Callable[[float], float] | None = None  # °C at t seconds after nvmlInit
    throttle_reasons: int = 0
    compute_pids: tuple[int, ...] = ()  # other processes holding a CUDA context on this GPU
    power_limit_mw: int = 700_000
    compute_capability: tuple[int, int] = (9, 0)  # Hopper
    persistence_mode: int = NVML_FEATURE_ENABLED
    ecc_mode: tuple[int, int] | None = (1, 1)  # (current, pending); None: the GPU has no ECC mode
    mig_mode: tuple[int, int] | None = (0, 0)  # (current, pending); None: no MIG (before Ampere)
    clocks_mhz: dict[int, int] = field(default_factory=lambda: {NVML_CLOCK_SM: 1755, NVML_CLOCK_MEM: 2619})
    app_clocks_mhz: dict[int, int] = field(
        default_factory=lambda: {NVML_CLOCK_SM: 1755, NVML_CLOCK_MEM: 2619}
    )
    default_app_clocks_mhz: dict[int, int] = field(
        default_factory=lambda: {NVML_CLOCK_SM: 1755, NVML_CLOCK_MEM: 2619}
    )
    pci_bus_id: str = ""  # given by FakeNvml in enumeration (PCI bus) order when left empty
    counter_jitter_s: float = COUNTER_JITTER_S
    power_sense_slice_s: float = POWER_SENSE_SLICE_S  # POWER_SENSE_PERIOD_S: sensed full-time
    seed: int | None = None  # of the update jitter; FakeNvml gives each GPU its own when None
    energy_mj: float = 0.0
    last_update: float = 0.0
    updates_done: int = 0

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
            compute_capability=(6, 0),
            mig_mode=None,
        )

    @classmethod
    def geforce(cls, uuid: str, power_w: float = 200.0) -> FakeGpu:
        """An Ampere GeForce card: an energy counter and power usage as a 1 s average, but no
        instant power field, no ECC and no MIG."""
        return cls(
            uuid=uuid,
            name="NVIDIA GeForce RTX 3090",
            power_w=power_w,
            has_power_fields=False,
            compute_capability=(8, 6),
            ecc_mode=None,
            mig_mode=None,
            power_limit_mw=350_000,
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
    NVML_CLOCK_ID_CURRENT = NVML_CLOCK_ID_CURRENT
    NVML_CLOCK_ID_APP_CLOCK_TARGET = NVML_CLOCK_ID_APP_CLOCK_TARGET
    NVML_CLOCK_ID_APP_CLOCK_DEFAULT = NVML_CLOCK_ID_APP_CLOCK_DEFAULT
    NVML_FEATURE_DISABLED = NVML_FEATURE_DISABLED
    NVML_FEATURE_ENABLED = NVML_FEATURE_ENABLED
    NVML_FI_DEV_POWER_AVERAGE = NVML_FI_DEV_POWER_AVERAGE
    NVML_FI_DEV_POWER_INSTANT = NVML_FI_DEV_POWER_INSTANT

    def __init__(self, gpus: list[FakeGpu], clock: Callable[[], float] = time.monotonic):
        self.gpus = gpus
        for index, gpu in enumerate(gpus):  # NVML enumerates in PCI bus order
            gpu.pci_bus_id = gpu.pci_bus_id or f"00000000:{0x18 + 0x10 * index:02X}:00.0"
            gpu.seed = index if gpu.seed is None else gpu.seed
        self.clock = clock
        self.initialised = 0
        self.started = clock()

    # --- lifecycle
    def nvmlInit(self) -> None:
        if self.initialised == 0:
            self.started = self.clock()
            for gpu in self.gpus:
                gpu.last_update = self.started
                gpu.updates_done = 0
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
        if gpu.trace_energy is not None:
            joules = gpu.trace_energy(end - self.started) - gpu.trace_energy(start - self.started)
            return joules / (end - start)
        step = (end - start) / _SUBSTEPS
        return sum(self._watts(gpu, start + (k + 0.5) * step) for k in range(_SUBSTEPS)) / _SUBSTEPS

    def _update_instant(self, gpu: FakeGpu, k: int) -> float:
        """When the driver publishes the counter's ``k``-th update: on a 100 ms grid, jittered."""
        jitter = random.Random(f"{gpu.seed}:{k}").uniform(-gpu.counter_jitter_s, gpu.counter_jitter_s)
        return self.started + k * COUNTER_UPDATE_S + jitter

    def _advance(self, gpu: FakeGpu) -> None:
        """Apply the updates due by now; between updates the counter stands still, and each update
        adds the exact energy since the previous one."""
        now = self.clock()
        while (due := self._update_instant(gpu, gpu.updates_done + 1)) <= now:
            gpu.energy_mj += self._mean_watts(gpu, gpu.last_update, due) * (due - gpu.last_update) * 1000
            gpu.last_update = due
            gpu.updates_done += 1

    def _sensed_watts(self, gpu: FakeGpu) -> float:
        """The instant-power field: the mean over the sensing slice of the last period that has
        one complete; power outside the slices is never seen."""
        now = self.clock()
        since = now - self.started
        period = math.floor((since - gpu.power_sense_slice_s) / POWER_SENSE_PERIOD_S + 1e-9)
        if gpu.trace is None or period < 0:
            return self._watts(gpu, now)
        sensed_from = self.started + period * POWER_SENSE_PERIOD_S
        return self._mean_watts(gpu, sensed_from, sensed_from + gpu.power_sense_slice_s)

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
                milliwatts = round(self._sensed_watts(gpu) * 1000)
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
        return gpu.clocks_mhz[clock_type]

    def nvmlDeviceGetClock(self, gpu: FakeGpu, clock_type: int, clock_id: int) -> int:
        self._check()
        by_id = {
            NVML_CLOCK_ID_CURRENT: gpu.clocks_mhz,
            NVML_CLOCK_ID_APP_CLOCK_TARGET: gpu.app_clocks_mhz,
            NVML_CLOCK_ID_APP_CLOCK_DEFAULT: gpu.default_app_clocks_mhz,
        }
        if clock_id not in by_id:
            raise NVMLError_InvalidArgument("Invalid Argument")
        return by_id[clock_id][clock_type]

    def nvmlDeviceGetCudaComputeCapability(self, gpu: FakeGpu) -> tuple[int, int]:
        self._check()
        return gpu.compute_capability

    def nvmlDeviceGetEccMode(self, gpu: FakeGpu) -> list[int]:
        self._check()
        if gpu.ecc_mode is None:
            raise NVMLError_NotSupported("Not Supported")
        return list(gpu.ecc_mode)

    def nvmlDeviceGetMigMode(self, gpu: FakeGpu) -> list[int]:
        self._check()
        if gpu.mig_mode is None:
            raise NVMLError_NotSupported("Not Supported")
        return list(gpu.mig_mode)

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
        return gpu.persistence_mode

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return 12040


def square_wave(
    low_w: float, high_w: float, period_s: float
) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """A load of ``high_w`` for the first half of every period, ``low_w`` for the second: its
    watts at t and its exact joules from 0 to t (for ``FakeGpu(trace=..., trace_energy=...)``)."""

    def watts(t: float) -> float:
        return high_w if (t % period_s) < period_s / 2 else low_w

    def joules(t: float) -> float:
        full, rest = divmod(t, period_s)
        high_s = full * period_s / 2 + min(rest, period_s / 2)
        return high_s * high_w + (t - high_s) * low_w

    return watts, joules


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
