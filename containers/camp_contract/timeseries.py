"""The schema of ``timeseries.parquet``, a run's sampled trace: one row per (sample, device).

The harness writes it with ``arrow_schema()`` (``harness/timeseries.py``) and the host reads it by these
names (``orchestrator/report.py``), so a column renamed on one side is renamed on both.

``t_s`` counts seconds from the first sample, on the same clock as the result's ``window``;
``source`` is the power source that read the row (``nvml``, ``synthetic``, or an extra source
such as ``rapl``: ``camp_contract.power_sources``); ``device`` is the device's id within its
source — a GPU's UUID, a RAPL domain (``package-0``, ``dram-0``) — and ``device_index`` its
position among that source's devices; ``phase`` says which part of the run a sample belongs to
(``PHASES``), so a plot or a re-analysis can cut the trace without re-deriving the marks. The
per-device readings are empty (null) on samples where the sampler did not read them, and where
the source has no such reading (a RAPL domain has no temperature; see docs/measurement.md).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from camp_contract.power_sources import POWER_SOURCES

if TYPE_CHECKING:  # imported where a trace is written or its schema compared: a run's last step
    import pyarrow as pa

T_S = "t_s"
SOURCE = "source"
DEVICE = "device"
DEVICE_INDEX = "device_index"
PHASE = "phase"
POWER_W = "power_w"
# Serving mode: how many requests were in flight (sent, not yet answered in full) at the sample,
# as the load generator saw them; null in offline runs and in traces written before it existed.
REQUESTS_IN_FLIGHT = "requests_in_flight"

# What one device reported at one sample: named as the harness's DeviceReading fields.
READING_COLUMNS = (
    POWER_W,
    "power_avg_1s_w",
    "energy_j",
    "gpu_util_pct",
    "mem_used_bytes",
    "temperature_c",
    "sm_clock_mhz",
    "throttle_reasons",
)

PHASE_SETTLE = "settle"  # the settle gate's idle reads, before the baseline
PHASE_BASELINE = "baseline"  # only when the idle baseline was measured in this run, not cached
PHASE_LOAD = "load"
PHASE_WARMUP = "warmup"
PHASE_MEASURED = "measured"
PHASE_DRAIN = "drain"  # serving mode: after the measured window, until the last response
PHASE_IDLE = "idle"  # a sample in no other phase
PHASES = (PHASE_SETTLE, PHASE_BASELINE, PHASE_LOAD, PHASE_WARMUP, PHASE_MEASURED, PHASE_DRAIN, PHASE_IDLE)

# Each column with its Arrow type, named as pyarrow's factory of that type (``pa.float64()``).
COLUMN_TYPES: tuple[tuple[str, str], ...] = (
    (T_S, "float64"),
    (SOURCE, "string"),
    (DEVICE, "string"),
    (DEVICE_INDEX, "int32"),
    (PHASE, "string"),
    *[(c, "int64" if c == "throttle_reasons" else "float64") for c in READING_COLUMNS],
    (REQUESTS_IN_FLIGHT, "int64"),
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in COLUMN_TYPES)


@functools.cache
def arrow_schema() -> pa.Schema:
    """The trace's Arrow schema. pyarrow is imported here, not with the column names: a run
    needs it only to write its trace, its last step."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, type_name)()) for name, type_name in COLUMN_TYPES])


# What a trace needs to be plotted at all (one series per ``device`` where it has that column).
REQUIRED_COLUMNS = (T_S, POWER_W)


def is_gpu_source(name: object) -> bool:
    """Whether rows of ``source`` ``name`` are the run's GPU source's (the headline's), not an
    extra source's. A row with no source (null) is a GPU's: a trace written before the column
    existed has only those."""
    if not isinstance(name, str):
        return True
    entry = POWER_SOURCES.get(name)
    return entry is not None and entry.role == "gpu"
