"""``camp report --by FIELD``: a metric's mean and interval for every value of chosen config fields.

What the unit of the interval is matters. Where each group holds a single experiment, the
cycles are the repeated measurements and the interval is the usual one over cycles. Where a
group pools several experiments (``--by backend`` across models and batch sizes), its cycles are
not repeats of one measurement: the interval is taken over the per-experiment means, so ``n``
counts experiments and the interval shows how much the pooled configurations differ, instead of
pretending their runs were independent repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from orchestrator import aggregate, stats
from orchestrator.config_errors import did_you_mean

UNIT_CYCLES = "cycles"
UNIT_EXPERIMENTS = "experiment means"


class UnknownField(ValueError):
    """A ``--by`` field that is not a config column; the message names the fix."""


@dataclass(frozen=True)
class GroupedSummary:
    by: list[str]  # runs-table columns, as resolved
    unit: str  # UNIT_CYCLES or UNIT_EXPERIMENTS: what n counts
    table: pd.DataFrame  # by columns, "experiments", then <metric>_mean/_low/_high/_n/_method


def resolve_fields(runs: pd.DataFrame, fields: Sequence[str]) -> list[str]:
    """Map what the user typed to runs-table columns: ``params.batch_size``, or just
    ``batch_size`` when exactly one config column ends in it."""
    columns = aggregate.config_columns(runs)
    resolved = []
    for field in fields:
        if field in columns:
            resolved.append(field)
            continue
        matches = [c for c in columns if c.split(".")[-1] == field]
        if len(matches) == 1:
            resolved.append(matches[0])
            continue
        if matches:
            raise UnknownField(f"--by {field!r} is ambiguous: say one of {', '.join(matches)}")
        hint = did_you_mean(field, columns)
        raise UnknownField(f"--by {field!r} is not a config field of these runs; {hint}")
    return list(dict.fromkeys(resolved))


def grouped_summary(
    runs: pd.DataFrame, fields: Sequence[str], metrics: Sequence[str] = aggregate.SUMMARY_METRICS
) -> GroupedSummary:
    """Intervals of ``metrics`` for every combination of ``fields`` (see the module docstring)."""
    by = resolve_fields(runs, fields)
    metrics = [m for m in metrics if m in runs.columns]
    # Values keep their types, so batch sizes sort 2 before 16; a field that one backend lacks is
    # NaN for the others' runs, a group of its own (dropna=False).
    experiments = runs.groupby(by, sort=True, dropna=False)["exp_id"].nunique()
    pooled = bool((experiments > 1).any())
    if pooled:
        units = runs.groupby([*by, "exp_id"], sort=True, dropna=False)[metrics].mean().reset_index()
    else:
        units = runs
    table = stats.experiment_summary(units, metrics, by=by)
    table = table.merge(experiments.rename("experiments").reset_index(), on=by, how="left")
    ordered = [*by, "experiments", *[c for c in table.columns if c not in (*by, "experiments")]]
    return GroupedSummary(by, UNIT_EXPERIMENTS if pooled else UNIT_CYCLES, table[ordered])
