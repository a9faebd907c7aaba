"""timeseries.parquet has one schema, owned by the contract: the harness writes exactly it and
the report reads it by the same names (one power series per GPU UUID; an extra source's rows,
such as RAPL's, are in the file but not in the GPU plot)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from camp_contract import timeseries as ts
from harness.measurement.power import DeviceReading, Reading
from harness.timeseries import write_timeseries
from orchestrator.report import traces

UUIDS = ("GPU-aaaa", "GPU-bbbb")
RAPL_DOMAINS = ("package-0", "dram-0")


def readings() -> list[Reading]:
    return [
        Reading(
            10.0 + i * 0.1,
            tuple(
                DeviceReading(power_w=100.0 + d, energy_j=i * 10.0, gpu_util_pct=50.0, throttle_reasons=0)
                for d in range(len(UUIDS))
            ),
            {
                "rapl": (
                    DeviceReading(power_w=30.0, energy_j=i * 3.0),
                    DeviceReading(power_w=5.0, energy_j=i * 0.5),
                )
            },
        )
        for i in range(6)
    ]


def write(path: Path) -> Path:
    phases = [(ts.PHASE_LOAD, 10.0, 10.2), (ts.PHASE_WARMUP, 10.2, 10.3), (ts.PHASE_MEASURED, 10.3, 10.5)]
    write_timeseries(path, readings(), {"nvml": UUIDS, "rapl": RAPL_DOMAINS}, 10.0, phases)
    return path


def test_the_harness_writes_exactly_the_contracts_schema(tmp_path: Path) -> None:
    table = pq.read_table(write(tmp_path / "timeseries.parquet"))
    assert table.schema.equals(ts.arrow_schema())
    assert set(table.column(ts.PHASE).to_pylist()) <= set(ts.PHASES)
    # at each sample the GPUs first, then the extra source's devices, each named by its source
    assert table.column(ts.DEVICE).to_pylist()[:4] == [*UUIDS, *RAPL_DOMAINS]
    assert table.column(ts.SOURCE).to_pylist()[:4] == ["nvml", "nvml", "rapl", "rapl"]
    assert table.column(ts.DEVICE_INDEX).to_pylist()[:4] == [0, 1, 0, 1]
    assert table.column(ts.POWER_W).to_pylist()[:4] == [100.0, 101.0, 30.0, 5.0]
    assert table.column("temperature_c").to_pylist()[2] is None  # a RAPL domain has none


def test_every_reading_column_is_a_field_the_harness_reads() -> None:
    assert set(ts.READING_COLUMNS) <= {f.name for f in dataclasses.fields(DeviceReading)}


def test_a_phase_outside_the_schema_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="phase 'prefill' is not in the timeseries schema"):
        write_timeseries(tmp_path / "t.parquet", readings(), {"nvml": UUIDS}, 10.0, [("prefill", 10.0, 10.5)])


def test_the_report_reads_every_column_the_harness_writes(tmp_path: Path) -> None:
    trace = traces.read_timeseries(write(tmp_path / "timeseries.parquet"))
    assert trace is not None
    assert tuple(trace.columns) == ts.COLUMNS
    assert set(trace[ts.SOURCE]) == {"nvml"}  # the GPUs' trace: RAPL's rows are not a GPU's


def test_a_trace_written_before_the_source_column_is_all_gpu_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "timeseries.parquet")
    old = pq.read_table(path).drop_columns([ts.SOURCE])
    old = old.filter(pc.is_in(old.column(ts.DEVICE), pa.array(UUIDS)))
    pq.write_table(old, path)
    trace = traces.read_timeseries(path)
    assert trace is not None and set(trace[ts.DEVICE]) == set(UUIDS)


def test_the_trace_viewer_gets_one_series_per_device(tmp_path: Path) -> None:
    trace = traces.read_timeseries(write(tmp_path / "timeseries.parquet"))
    assert trace is not None
    run = pd.Series({"window_start_s": 0.3, "window_end_s": 0.5, "baseline_power_w": 40.0})
    payload = traces.trace_payload(trace, run)
    assert [device["device"] for device in payload["devices"]] == sorted(UUIDS)
