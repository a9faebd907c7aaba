"""The sampled trace of a run written as ``timeseries.parquet``, in the schema the contract
defines (``camp_contract.timeseries``): one row per (sample, device), each with its source,
phase and, in serving mode, the requests in flight — at each sample the GPU source's devices
first, then each extra source's (RAPL's
``package-0``, ``dram-0``, …). Baseline rows exist only when the idle baseline was measured in
this run rather than taken from the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from camp_contract.atomic import atomic_write_with
from camp_contract.timeseries import (
    COLUMNS,
    DEVICE,
    DEVICE_INDEX,
    PHASE,
    PHASE_IDLE,
    PHASES,
    READING_COLUMNS,
    REQUESTS_IN_FLIGHT,
    SOURCE,
    T_S,
    arrow_schema,
)
from harness.measurement.power import Reading


def _phase(t: float, phases: Sequence[tuple[str, float, float]]) -> str:
    """A sample on a boundary belongs to the phase that starts there (the window's first sample
    is the measured phase's)."""
    for name, start, end in reversed(phases):
        if start <= t <= end:
            return name
    return PHASE_IDLE


def write_timeseries(
    path: Path,
    readings: Sequence[Reading],
    device_ids: Mapping[str, Sequence[str]],
    origin: float,
    phases: Sequence[tuple[str, float, float]],
    in_flight: Callable[[float], int] | None = None,
) -> None:
    """``device_ids``: each source's device ids by source name, the GPU source's first (its
    devices are ``Reading.devices``, the others' ``Reading.extra[name]``); ``in_flight``: the
    requests in flight at a time (serving mode), else the column is null."""
    unknown = sorted({name for name, _, _ in phases} - set(PHASES))
    if unknown:
        raise ValueError(f"phase {unknown[0]!r} is not in the timeseries schema ({', '.join(PHASES)})")
    gpu_source = next(iter(device_ids), None)
    rows: dict[str, list[object]] = {name: [] for name in COLUMNS}
    for reading in readings:
        phase = _phase(reading.t_s, phases)
        requests = in_flight(reading.t_s) if in_flight is not None else None
        for source, ids in device_ids.items():
            if source != gpu_source and source not in reading.extra:
                continue
            devices = reading.devices if source == gpu_source else reading.extra[source]
            for index, (device_id, device) in enumerate(zip(ids, devices, strict=True)):
                rows[T_S].append(reading.t_s - origin)
                rows[SOURCE].append(source)
                rows[DEVICE].append(device_id)
                rows[DEVICE_INDEX].append(index)
                rows[PHASE].append(phase)
                for column in READING_COLUMNS:
                    rows[column].append(getattr(device, column))
                rows[REQUESTS_IN_FLIGHT].append(requests)
    import pyarrow as pa  # here, not at import: pyarrow is a run's largest import, needed only now
    import pyarrow.parquet as pq

    table = pa.table(rows, schema=arrow_schema())
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))
