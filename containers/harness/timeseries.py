"""The sampled trace of a run as ``timeseries.parquet``: one row per (sample, device).

``t_s`` counts from the first sample, on the same clock as the result's ``window``; ``phase``
says which part of the run a sample belongs to (baseline, load, warmup, measured), so a plot or a
re-analysis can cut the trace without re-deriving the marks. Baseline rows exist only when the
idle baseline was measured in this run rather than taken from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.atomic import atomic_write_with
from harness.measurement.power import Reading

COLUMNS = (
    "power_w",
    "power_avg_1s_w",
    "energy_j",
    "gpu_util_pct",
    "mem_used_bytes",
    "temperature_c",
    "sm_clock_mhz",
    "throttle_reasons",
)


def _phase(t: float, phases: Sequence[tuple[str, float, float]]) -> str:
    """A sample on a boundary belongs to the phase that starts there (the window's first sample
    is the measured phase's)."""
    for name, start, end in reversed(phases):
        if start <= t <= end:
            return name
    return "idle"


def write_timeseries(
    path: Path,
    readings: Sequence[Reading],
    device_uuids: Sequence[str],
    origin: float,
    phases: Sequence[tuple[str, float, float]],
) -> None:
    rows: dict[str, list[object]] = {"t_s": [], "device": [], "device_index": [], "phase": []}
    rows.update({c: [] for c in COLUMNS})
    for reading in readings:
        phase = _phase(reading.t_s, phases)
        for index, (uuid, device) in enumerate(zip(device_uuids, reading.devices, strict=True)):
            rows["t_s"].append(reading.t_s - origin)
            rows["device"].append(uuid)
            rows["device_index"].append(index)
            rows["phase"].append(phase)
            for column in COLUMNS:
                rows[column].append(getattr(device, column))
    schema = pa.schema(
        [
            ("t_s", pa.float64()),
            ("device", pa.string()),
            ("device_index", pa.int32()),
            ("phase", pa.string()),
            *[(c, pa.int64() if c == "throttle_reasons" else pa.float64()) for c in COLUMNS],
        ]
    )
    table = pa.table(rows, schema=schema)
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))
