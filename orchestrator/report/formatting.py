"""Numbers, intervals and labels as text: one spelling, shared by the terminal tables and the page,
so a number reads the same wherever a researcher copies it from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestrator import aggregate, stats

ENERGY = "energy_per_output_token_j"
THROUGHPUT = "throughput_tokens_per_s"
MISSING = "—"  # a field this row does not have, or a number that is not there
_SHORT_METHOD = {
    stats.METHOD_T: "t",
    stats.METHOD_T + stats.ZERO_VARIANCE: "t,sd=0",
    stats.METHOD_T + stats.BOOTSTRAP_T_UNDEFINED: "t*",
    stats.METHOD_T_WIDENED: "t+",
    stats.METHOD_T_WIDENED + stats.ZERO_VARIANCE: "t+,sd=0",
    stats.METHOD_BOOTSTRAP_T: "boot-t",
    stats.METHOD_BOOTSTRAP_T + stats.ZERO_VARIANCE: "boot-t,sd=0",
    stats.METHOD_SINGLE: "n=1",
    stats.METHOD_EMPTY: "-",
}


@dataclass(frozen=True)
class EnergyUnit:
    name: str
    scale: float  # multiply joules by this


def energy_unit(values: pd.Series | np.ndarray) -> EnergyUnit:
    """J, mJ or µJ: whichever puts the typical value between 1 and 1000."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    typical = float(np.median(np.abs(finite))) if finite.size else 1.0
    if typical >= 1 or typical == 0:
        return EnergyUnit("J", 1.0)
    if typical >= 1e-3:
        return EnergyUnit("mJ", 1e3)
    return EnergyUnit("µJ", 1e6)


def format_interval(mean: float, low: float, high: float, scale: float = 1.0) -> str:
    """``12.3 ± 0.4`` for a symmetric interval, ``12.3 +0.5/−0.3`` otherwise, ``12.3`` without one.

    The half-width gets two significant digits and the mean is rounded to the same place.
    """
    mean, low, high = mean * scale, low * scale, high * scale
    if not math.isfinite(mean):
        return MISSING
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.4g}"
    up, down = max(high - mean, 0.0), max(mean - low, 0.0)
    widest = max(up, down)
    if widest <= 1e-9 * abs(mean):  # zero variance (or float noise): show the mean to 4 digits
        widest = up = down = 0.0
    if widest == 0:
        decimals = max(0, 3 - math.floor(math.log10(abs(mean)))) if mean else 2
    else:
        decimals = max(0, 1 - math.floor(math.log10(widest)))
    if math.isclose(up, down, rel_tol=0.05, abs_tol=10**-decimals / 2):
        return f"{mean:.{decimals}f} ± {widest:.{decimals}f}"
    return f"{mean:.{decimals}f} +{up:.{decimals}f}/−{down:.{decimals}f}"


def metric_interval(row: pd.Series, metric: str, scale: float = 1.0) -> str:
    """A metric's ``<metric>_mean/_low/_high`` columns of one table row as ``format_interval``."""
    return format_interval(row[f"{metric}_mean"], row[f"{metric}_low"], row[f"{metric}_high"], scale)


def short_method(method: str) -> str:
    """The interval method in a terminal column's few letters (the legend spells them out)."""
    return _SHORT_METHOD.get(method, method)


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: a field this row's backend does not have."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def cell_text(value: Any) -> str:
    """A table cell: the value as text, ``—`` where the row has none."""
    return MISSING if is_missing(value) else str(value)


def config_label(row: pd.Series, columns: Sequence[str]) -> str:
    """``backend=vllm batch_size=8``: the swept values of one experiment, prefixes dropped,
    fields its backend does not have left out."""
    return " ".join(
        f"{column.split('.')[-1]}={row[column]}" for column in columns if not is_missing(row[column])
    )


def label_columns(experiments: pd.DataFrame) -> list[str]:
    """The config columns that tell the experiments apart (backend and model when none vary)."""
    swept = aggregate.swept_columns(experiments)
    return swept or [c for c in ("backend", "model") if c in experiments.columns]


def sorted_by_config(experiments: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Rows in the order of their config values (batch sizes 1, 2, 16), missing values last."""
    if not columns:
        return experiments
    return experiments.sort_values(list(columns), kind="stable", na_position="last")
