"""Numbers, intervals and labels as text: one spelling, shared by the terminal tables and the page,
so a number reads the same wherever a researcher copies it from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestrator import aggregate, stats, units
from orchestrator.serving_plan import LOAD_COLUMNS, load_text
from orchestrator.units import format_number as format_number  # the page and the terminal use it from here

ENERGY = "energy_per_output_token_j"
THROUGHPUT = "throughput_tokens_per_s"
MISSING = units.MISSING  # a field this row does not have, or a number that is not there
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
    """A unit as a column header names it (``mJ/token``) and the factor that turns the column's
    base unit (J, W, s) into it. One per column: every cell of a column is in the same unit."""

    name: str
    scale: float  # multiply the base-unit value by this


# Metric columns' unit suffixes (the aggregate tables' names) → the unit they are in.
_BASE_UNITS = {"_j": "J", "_w": "W", "_s": "s"}
_PER = {"_per_output_token_": "/token", "_per_request_": "/request"}


def si_unit(base: str, values: pd.Series | np.ndarray | Sequence[float]) -> EnergyUnit:
    """``base`` with the SI prefix that puts the typical (median absolute) value between 1 and
    1000: one prefix for a whole column, chosen from its values."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    typical = float(np.median(np.abs(finite))) if finite.size else 1.0
    prefix, scale = units.prefix_for(base, typical)
    return EnergyUnit(prefix + base, scale)


def energy_unit(values: pd.Series | np.ndarray) -> EnergyUnit:
    """J with the prefix the values need (kJ, J, mJ, µJ, …)."""
    return si_unit("J", values)


def metric_unit(metric: str, values: pd.Series | np.ndarray | Sequence[float] = ()) -> EnergyUnit:
    """The unit a metric column is shown in, from its name: ``energy_per_output_token_j`` →
    ``mJ/token`` (prefix from the values), ``throughput_tokens_per_s`` → ``tokens/s`` (never
    prefixed), ``avg_power_w`` → ``W``, ``latency_mean_s`` → ``ms``; unitless columns → ``""``."""
    if metric.endswith("_per_s"):
        return EnergyUnit(metric.removesuffix("_per_s").rsplit("_", 1)[-1] + "/s", 1.0)
    for suffix, base in _BASE_UNITS.items():
        if metric.endswith(suffix):
            unit = si_unit(base, values)
            per = next((text for key, text in _PER.items() if key in f"{metric}_"), "")
            return EnergyUnit(unit.name + per, unit.scale)
    return EnergyUnit("", 1.0)


def metric_title(metric: str) -> str:
    """A metric column's name as words, its unit suffix dropped: ``energy_per_output_token_j`` →
    ``energy per output token``."""
    stem = metric.removesuffix("_per_s")
    for suffix in _BASE_UNITS:
        stem = stem.removesuffix(suffix)
    return stem.replace("_", " ") + (" per s" if metric.endswith("_per_s") else "")


def with_unit(header: str, unit: EnergyUnit) -> str:
    """A column header that states its unit: ``energy (mJ/token)``; the bare header without one."""
    return f"{header} ({unit.name})" if unit.name else header


def format_percent(fraction: float, *, signed: bool = True) -> str:
    """A fraction as a rounded percentage: ``-0.1234`` → ``-12.3 %`` (one decimal; the ASCII
    minus every other number has, so a copied figure parses)."""
    if not math.isfinite(fraction):
        return MISSING
    return f"{100 * fraction:{'+' if signed else ''}.1f} %"


def format_interval(mean: float, low: float, high: float, scale: float = 1.0) -> str:
    """``12.3 ± 0.4`` for a symmetric interval, ``12.3 +0.5/−0.3`` otherwise, ``12.3`` without one.

    The half-width gets two significant digits and the mean is rounded to the same place.
    """
    mean, low, high = mean * scale, low * scale, high * scale
    if not math.isfinite(mean):
        return MISSING
    if not (math.isfinite(low) and math.isfinite(high)):
        return format_number(mean)
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
    return " ".join(_setting(row, column) for column in columns if not is_missing(row[column]))


def _setting(row: pd.Series, column: str) -> str:
    """``batch_size=8``; a server-mode load as camp writes it everywhere (``rate=16/s``,
    ``rate=inf``, ``concurrency=8``)."""
    if column in LOAD_COLUMNS:
        value = float(row[column])
        return load_text(value, None) if column == LOAD_COLUMNS[0] else load_text(None, value)
    return f"{column.split('.')[-1]}={row[column]}"


def label_columns(experiments: pd.DataFrame) -> list[str]:
    """The config columns that tell the experiments apart (backend and model when none vary)."""
    swept = aggregate.swept_columns(experiments)
    return swept or [c for c in ("backend", "model") if c in experiments.columns]


def sorted_by_config(experiments: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Rows in the order of their config values (batch sizes 1, 2, 16), missing values last."""
    if not columns:
        return experiments
    return experiments.sort_values(list(columns), kind="stable", na_position="last")
