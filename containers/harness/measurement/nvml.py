"""NVML power source (nvidia-ml-py): the GPUs this run may use, found by UUID.

Which GPUs: the ones in ``CUDA_VISIBLE_DEVICES`` (local executor) or ``NVIDIA_VISIBLE_DEVICES``
(container), which may hold UUIDs or indices. Indices are resolved in PCI bus order (sorted by
the bus id NVML reports, which is what CUDA counts in under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``);
then ``pin_cuda_devices`` rewrites ``CUDA_VISIBLE_DEVICES`` to those GPUs' PCI-order positions
and sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so the backend computes on exactly the GPUs that are
metered (positions, not UUIDs: vLLM parses the variable as integers). From then on everything
the harness records is keyed by UUID, never by a CUDA index.

Energy: the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer)
where the GPU has one; power is sampled always (instant power via field values where supported,
else ``nvmlDeviceGetPowerUsage``, which on Ampere and newer is itself a 1 s average).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import pynvml

from camp_contract.models import PowerReading
from harness.measurement.power import DeviceInfo, DeviceReading, Reading, no_op

DISABLED = {"", "none", "void"}
AUX_PERIOD_S = 0.1  # utilisation, memory, temperature, clocks: 10 Hz is plenty
AMPERE_MAJOR = 8  # compute capability of Ampere, the first whose power usage is a 1 s average


class GpuSelectionError(RuntimeError):
    """The visible-devices variables name a GPU NVML does not have."""


def pci_order(devices: Sequence[DeviceInfo]) -> list[DeviceInfo]:
    """The devices as CUDA counts them under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``."""
    return sorted(devices, key=lambda d: (d.pci_bus_id.lower(), d.index))


def select_devices(all_devices: Sequence[DeviceInfo], environ: Mapping[str, str]) -> list[DeviceInfo]:
    """The devices this run may use, from the visible-devices variables (see module doc)."""
    all_devices = pci_order(all_devices)
    for variable in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
        value = environ.get(variable)
        if value is None or value.strip().lower() == "all":
            continue
        if value.strip().lower() in DISABLED:
            raise GpuSelectionError(f"{variable}={value!r} hides every GPU")
        wanted = [v.strip() for v in value.split(",") if v.strip()]
        if (
            variable == "NVIDIA_VISIBLE_DEVICES"
            and not any(_is_uuid(w) for w in wanted)
            and len(wanted) == len(all_devices)
        ):
            return list(all_devices)  # inside a container: the runtime already showed only these
        return [_resolve(w, all_devices, variable) for w in wanted]
    return list(all_devices)


def pin_cuda_devices(
    selected: Sequence[DeviceInfo], all_devices: Sequence[DeviceInfo], environ: MutableMapping[str, str]
) -> str:
    """Point CUDA at exactly the metered GPUs: ``NVIDIA_VISIBLE_DEVICES`` alone is ignored by
    CUDA outside a container, and an index means nothing without the device order it counts in."""
    positions = [d.uuid for d in pci_order(all_devices)]
    value = ",".join(str(positions.index(d.uuid)) for d in selected)
    environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    environ["CUDA_VISIBLE_DEVICES"] = value
    return value


def _is_uuid(entry: str) -> bool:
    return entry.startswith(("GPU-", "MIG-"))


def _resolve(entry: str, devices: Sequence[DeviceInfo], variable: str) -> DeviceInfo:
    if _is_uuid(entry):
        matches = [d for d in devices if d.uuid.startswith(entry)]  # CUDA accepts UUID prefixes too
        if len(matches) == 1:
            return matches[0]
    elif entry.isdigit() and int(entry) < len(devices):
        return devices[int(entry)]
    raise GpuSelectionError(
        f"{variable} names {entry!r}, but NVML sees: " + ", ".join(f"{d.index}={d.uuid}" for d in devices)
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlPower:
    kind = "nvml"

    def __init__(self, environ: Mapping[str, str]):
        pynvml.nvmlInit()
        try:
            everything = []
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                pci = self._optional(pynvml.nvmlDeviceGetPciInfo, handle)
                everything.append(
                    DeviceInfo(
                        index,
                        _text(pynvml.nvmlDeviceGetUUID(handle)),
                        _text(pynvml.nvmlDeviceGetName(handle)),
                        _text(pci.busId) if pci is not None else "",
                    )
                )
            self._everything = pci_order(everything)
            self._devices = select_devices(everything, environ)
            if not self._devices:
                raise GpuSelectionError("NVML sees no GPU")
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(d.index) for d in self._devices]
            self._has_counter = [
                self._supports(pynvml.nvmlDeviceGetTotalEnergyConsumption, h) for h in self._handles
            ]
            # A powered GPU never draws 0 W: a driver answering the field with 0 does not really have it
            self._has_fields = [(self._field_power(h) or (0.0, None))[0] > 0 for h in self._handles]
            self._aux_at = float("-inf")
        except BaseException:
            pynvml.nvmlShutdown()
            raise

    @staticmethod
    def _supports(call: Any, handle: Any) -> bool:
        try:
            call(handle)
        except pynvml.NVMLError_NotSupported:
            return False
        return True

    @staticmethod
    def _field_power(handle: Any) -> tuple[float, float] | None:
        """(instant W, 1 s average W) from field values, or None where unsupported."""
        try:
            values = pynvml.nvmlDeviceGetFieldValues(
                handle, [pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_FI_DEV_POWER_AVERAGE]
            )
        except pynvml.NVMLError:
            return None
        if any(v.nvmlReturn != pynvml.NVML_SUCCESS for v in values):
            return None
        return values[0].value.uiVal / 1000.0, values[1].value.uiVal / 1000.0

    @staticmethod
    def _optional(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except pynvml.NVMLError:
            return None

    def devices(self) -> list[DeviceInfo]:
        return list(self._devices)

    def all_devices(self) -> list[DeviceInfo]:
        """Every GPU NVML sees here, in PCI bus order (not only this run's)."""
        return list(self._everything)

    def read(self) -> Reading:
        """Power and energy of every GPU first (they are what the window is cut on, so they are
        read as close to the timestamp as possible); the slower-moving facts (utilisation,
        memory, temperature, clock, throttle reasons) at most every ``AUX_PERIOD_S``, so a
        100 Hz sampler makes two NVML calls per GPU per sample, not eight."""
        now = time.monotonic()
        power = [
            self._power(handle, fields)
            for handle, fields in zip(self._handles, self._has_fields, strict=True)
        ]
        energy = [
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0 if counter else None
            for handle, counter in zip(self._handles, self._has_counter, strict=True)
        ]
        with_aux = now - self._aux_at >= AUX_PERIOD_S * 0.9  # 0.9: a 10 Hz sampler's jitter
        if with_aux:
            self._aux_at = now
        readings = [
            DeviceReading(
                power_w=watts,
                energy_j=joules,
                power_avg_1s_w=average,
                **(self._aux(handle) if with_aux else {}),
            )
            for handle, (watts, average), joules in zip(self._handles, power, energy, strict=True)
        ]
        return Reading(now, tuple(readings))

    def _power(self, handle: Any, fields: bool) -> tuple[float, float | None]:
        """(power W, 1 s average W or None): the instant field where the GPU has it."""
        field_power = self._field_power(handle) if fields else None
        if field_power is not None:
            return field_power
        return pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0, None

    def _aux(self, handle: Any) -> dict[str, Any]:
        util = self._optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
        memory = self._optional(pynvml.nvmlDeviceGetMemoryInfo, handle)
        return {
            "gpu_util_pct": float(util.gpu) if util is not None else None,
            "mem_used_bytes": float(memory.used) if memory is not None else None,
            "temperature_c": self._optional(
                pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU
            ),
            "sm_clock_mhz": self._optional(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
            "throttle_reasons": self._optional(pynvml.nvmlDeviceGetCurrentClocksThrottleReasons, handle),
        }

    def other_processes(self) -> dict[str, int]:
        counts = {}
        for device, handle in zip(self._devices, self._handles, strict=True):
            processes = self._optional(pynvml.nvmlDeviceGetComputeRunningProcesses, handle)
            if processes:
                counts[device.uuid] = len(processes)
        return counts

    def busy(self) -> contextlib.AbstractContextManager[None]:
        return no_op()

    def close(self) -> None:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()

    def describe(self) -> list[dict[str, Any]]:
        """Per-GPU facts for the environment snapshot: what could change a measurement, and how
        its power was read. A fact the GPU does not report (ECC on most GeForce cards, MIG before
        Ampere) is None."""
        return [
            self._describe(device, handle, counter, fields)
            for device, handle, counter, fields in zip(
                self._devices, self._handles, self._has_counter, self._has_fields, strict=True
            )
        ]

    def _describe(self, device: DeviceInfo, handle: Any, counter: bool, fields: bool) -> dict[str, Any]:
        capability = self._optional(pynvml.nvmlDeviceGetCudaComputeCapability, handle)
        return {
            "index": device.index,
            "uuid": device.uuid,
            "name": device.name,
            "pci_bus_id": device.pci_bus_id,
            "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
            "power_reading": power_reading(fields, capability),
            "energy_counter": counter,
            "power_limit_w": _milli(self._optional(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)),
            "default_power_limit_w": _milli(
                self._optional(pynvml.nvmlDeviceGetPowerManagementDefaultLimit, handle)
            ),
            "persistence_mode": _enabled(self._optional(pynvml.nvmlDeviceGetPersistenceMode, handle)),
            "ecc_mode": _current_pending(self._optional(pynvml.nvmlDeviceGetEccMode, handle)),
            "mig_mode": _current_pending(self._optional(pynvml.nvmlDeviceGetMigMode, handle)),
            "temperature_c": self._optional(
                pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU
            ),
            **self._clocks(handle),
        }

    def _clocks(self, handle: Any) -> dict[str, Any]:
        """Current, application (set and default) and max clocks of SM and memory, in MHz: an
        application clock someone changed from its default changes every joule."""
        out = {}
        for name, clock in (("sm", pynvml.NVML_CLOCK_SM), ("mem", pynvml.NVML_CLOCK_MEM)):
            out[f"{name}_clock_mhz"] = self._optional(pynvml.nvmlDeviceGetClockInfo, handle, clock)
            out[f"{name}_app_clock_mhz"] = self._optional(
                pynvml.nvmlDeviceGetClock, handle, clock, pynvml.NVML_CLOCK_ID_APP_CLOCK_TARGET
            )
            out[f"{name}_app_clock_default_mhz"] = self._optional(
                pynvml.nvmlDeviceGetClock, handle, clock, pynvml.NVML_CLOCK_ID_APP_CLOCK_DEFAULT
            )
            out[f"{name}_clock_max_mhz"] = self._optional(pynvml.nvmlDeviceGetMaxClockInfo, handle, clock)
        return out

    def driver(self) -> dict[str, Any]:
        cuda = self._optional(pynvml.nvmlSystemGetCudaDriverVersion)
        return {
            "driver_version": _text(self._optional(pynvml.nvmlSystemGetDriverVersion) or ""),
            "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
        }


def open_source(environ: MutableMapping[str, str]) -> NvmlPower:
    """The registry's factory: the GPUs the visible-devices variables allow, with CUDA pinned to
    exactly them (``pin_cuda_devices``), so the backend computes where the meter is read."""
    source = NvmlPower(environ)
    pin_cuda_devices(source.devices(), source.all_devices(), environ)
    return source


def power_reading(fields: bool, compute_capability: tuple[int, int] | None) -> PowerReading:
    """How ``read()`` gets this GPU's power: the instant field where it has one; else
    ``nvmlDeviceGetPowerUsage``, a 1 s average from Ampere (compute capability 8) on."""
    if fields:
        return "instant"
    if compute_capability is None:
        return "usage"
    return "average_1s" if compute_capability[0] >= AMPERE_MAJOR else "instant_usage"


def _milli(value: Any) -> float | None:
    return value / 1000.0 if value is not None else None


def _enabled(value: Any) -> bool | None:
    return bool(value) if value is not None else None


def _current_pending(modes: Any) -> dict[str, bool] | None:
    """NVML's (current, pending) pair: a pending mode takes effect at the next GPU reset."""
    return {"current": bool(modes[0]), "pending": bool(modes[1])} if modes is not None else None
