"""Every metered source's window energy, in total and per device: the result's ``energy_by_source``.

The GPU source's figures are the headline's (``energy``), split per GPU by the same estimator.
An extra source's trace is cut from the same readings (``Reading.of_source``) and estimated the
same way — RAPL's counter moves at every sample, so its figure is the counter's delta — then
adjusted by its own idle power from the baseline window (``baseline.by_source``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from camp_contract.models import BaselineInfo, EnergyInfo, SourceEnergy
from harness.measurement.estimator import estimate_window
from harness.measurement.power import Reading


def _idle_w(name: str, baseline: BaselineInfo) -> float | None:
    """An extra source's idle power: 0 with the baseline disabled (nothing is subtracted, as for
    the GPUs), None where this baseline did not measure it."""
    if baseline.method == "disabled":
        return 0.0
    found = baseline.by_source.get(name)
    return found.power_w if found is not None else None


def energy_by_source(
    readings: Sequence[Reading],
    start: float,
    end: float,
    device_ids: Mapping[str, Sequence[str]],
    gpu_name: str,
    energy: EnergyInfo,
    baseline: BaselineInfo,
) -> dict[str, SourceEnergy]:
    """``device_ids``: each source's device ids by name, as ``ComposedSource.device_ids()``."""
    out = {}
    for name, ids in device_ids.items():
        if name == gpu_name:
            split = estimate_window(readings, start, end).per_device_j
            out[name] = SourceEnergy(
                role="gpu",
                method=energy.method,
                total_j=energy.total_j,
                per_device=dict(zip(ids, split, strict=True)),
                baseline_w=baseline.power_w,
                adjusted_j=energy.adjusted_j,
            )
            continue
        estimate = estimate_window([r.of_source(name) for r in readings if name in r.extra], start, end)
        idle_w = _idle_w(name, baseline)
        out[name] = SourceEnergy(
            role="extra",
            method=estimate.method,
            total_j=estimate.total_j,
            per_device=dict(zip(ids, estimate.per_device_j, strict=True)),
            baseline_w=idle_w,
            adjusted_j=estimate.total_j - idle_w * (end - start) if idle_w is not None else None,
        )
    return out
