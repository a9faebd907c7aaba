"""The traces the report shows: ``timeseries.parquet`` read by the contract's column names
(``camp_contract.timeseries``), the run whose trace the page opens on, and every run's trace
written as a small script the page's viewer loads when that run is picked."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from camp_contract import layout
from camp_contract import timeseries as ts
from camp_contract.atomic import atomic_write_text
from orchestrator.report.formatting import ENERGY


def read_timeseries(path: Path) -> pd.DataFrame | None:
    """The GPUs' power trace of a run (the contract's columns, ``camp_contract.timeseries``; an
    extra source's rows, such as RAPL's, left out), or None when it is missing, unreadable or
    lacks ``t_s``/``power_w``."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError):
        return None
    if ts.SOURCE in frame.columns:
        frame = frame[frame[ts.SOURCE].map(ts.is_gpu_source).astype(bool)]
    if not set(ts.REQUIRED_COLUMNS) <= set(frame.columns) or frame.empty:
        return None
    return frame[[c for c in ts.COLUMNS if c in frame.columns]]


def representative_run(runs: pd.DataFrame, campaign_dir: Path) -> tuple[pd.Series, pd.DataFrame] | None:
    """The run closest to the campaign's median energy per token that has a usable power trace."""
    if runs.empty:
        return None
    distance = (runs[ENERGY] - runs[ENERGY].median()).abs()
    for index in distance.sort_values(kind="stable").index:
        run = runs.loc[index]
        run_dir = layout.run_dir(campaign_dir, str(run["exp_id"]), int(run["cycle"]))
        trace = read_timeseries(layout.RunFiles(run_dir).timeseries)
        if trace is not None:
            return run, trace
    return None


# ---------------------------------------------------------------- every run's trace for the page

TRACES_DIR = "traces"  # under the report folder
TRACE_FORMAT = 1  # in each file's name: a page of another format never reads a stale file
MAX_TRACE_POINTS = 600  # per device and series: enough for a 600-pixel-wide plot
TRACE_SERIES = {ts.POWER_W: 2, "temperature_c": 1, "sm_clock_mhz": 0}  # column → decimals kept


def trace_key(exp_id: str, cycle: int) -> str:
    return f"{exp_id}/c{cycle}"


def trace_filename(exp_id: str, cycle: int) -> str:
    """The run's trace file under ``TRACES_DIR``; exp_ids are hex, so the name is safe."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in exp_id)
    return f"{safe}_c{cycle}.v{TRACE_FORMAT}.js"


def downsampled(samples: pd.DataFrame, limit: int = MAX_TRACE_POINTS) -> pd.DataFrame:
    """At most ``limit`` rows, evenly spaced in the trace's order, the first and last kept."""
    if len(samples) <= limit:
        return samples
    picks = np.unique(np.linspace(0, len(samples) - 1, limit).round().astype(int))
    return samples.iloc[picks]


def trace_payload(trace: pd.DataFrame, run: pd.Series) -> dict[str, Any]:
    """What the page's trace viewer draws: per device, time and each series present (power,
    temperature, SM clock), downsampled; the measured window and the idle baseline."""
    groups = (
        [(str(key), part) for key, part in trace.groupby(ts.DEVICE, sort=True)]
        if ts.DEVICE in trace.columns
        else [("", trace)]
    )
    devices = []
    for device, part in groups:
        part = downsampled(part.sort_values(ts.T_S, kind="stable"))
        entry: dict[str, Any] = {"device": device, "t": _rounded(part[ts.T_S], 3)}
        for column, decimals in TRACE_SERIES.items():
            if column in part.columns and part[column].notna().any():
                entry[column] = _rounded(part[column], decimals)
        devices.append(entry)
    baseline = float(run.get("baseline_power_w", math.nan))
    return {
        "devices": devices,
        "window": [_finite(run.get("window_start_s")), _finite(run.get("window_end_s"))],
        "baseline_w": baseline if math.isfinite(baseline) else None,
    }


def _finite(value: Any) -> float | None:
    number = float(value) if value is not None else math.nan
    return number if math.isfinite(number) else None


def _rounded(values: pd.Series, decimals: int) -> list[float | None]:
    """JSON numbers: rounded, NaN (a device not read at that sample) as null."""
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float).round(decimals)
    return [None if not math.isfinite(v) else (int(v) if decimals == 0 else float(v)) for v in array]


def trace_script(key: str, payload: dict[str, Any]) -> str:
    """A script the page loads on demand (a ``<script src>`` works from file://, where fetch does
    not): it hands the run's trace to the viewer. ``<`` is escaped, so no value can end a script."""

    def js(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")

    return f"window.campTrace({js(key)}, {js(payload)});\n"


def write_trace_files(runs: pd.DataFrame, campaign_dir: Path, out: Path) -> dict[str, str]:
    """Each done run's trace as a small script under ``out/traces``, written only when missing or
    older than its ``timeseries.parquet`` (a run's trace never changes once done, so refreshing the
    report reads only new runs' traces); scripts of runs no longer listed are removed. Returns
    run key → file, relative to ``out``, for the runs that have a usable trace."""
    folder = out / TRACES_DIR
    written: dict[str, str] = {}
    for _, run in runs.iterrows():
        exp_id, cycle = str(run["exp_id"]), int(run["cycle"])
        source = layout.RunFiles(layout.run_dir(campaign_dir, exp_id, cycle)).timeseries
        target = folder / trace_filename(exp_id, cycle)
        try:
            source_mtime = source.stat().st_mtime
        except OSError:
            continue
        if not (target.is_file() and target.stat().st_mtime >= source_mtime):
            trace = read_timeseries(source)
            if trace is None:
                target.unlink(missing_ok=True)
                continue
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, trace_script(trace_key(exp_id, cycle), trace_payload(trace, run)))
        written[trace_key(exp_id, cycle)] = f"{TRACES_DIR}/{target.name}"
    if folder.is_dir():
        keep = {Path(name).name for name in written.values()}
        for stale in folder.glob("*.js"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
    return written
