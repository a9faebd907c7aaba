"""The power trace the report shows: ``timeseries.parquet`` read by the contract's column names
(``camp_contract.timeseries``), and the run whose trace stands for the campaign."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from camp_contract import layout
from camp_contract import timeseries as ts
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
