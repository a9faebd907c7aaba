"""``camp compare``: which two experiments (a unique exp_id prefix or a label picks each), their
configurations side by side, and each metric's paired difference B − A over their common cycles,
relative to A. The terminal text is ``report.terminal.format_comparison``; ``as_json`` is what
``--json`` prints."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from orchestrator import aggregate, stats

DEFAULT_METRICS = (
    "energy_per_output_token_j",
    "throughput_tokens_per_s",
    "energy_per_request_j",
    "avg_power_w",
    "latency_mean_s",
)
_MAX_LISTED = 20


class ExperimentChoiceError(ValueError):
    """An argument that names no done experiment, or several: the message lists the candidates."""


@dataclass(frozen=True)
class Chosen:
    exp_id: str
    label: str
    config: dict[str, Any]  # flattened config columns (backend, model, params.batch_size, …)


@dataclass(frozen=True)
class ConfigField:
    name: str
    value_a: str
    value_b: str

    @property
    def differs(self) -> bool:
        return self.value_a != self.value_b


@dataclass(frozen=True)
class MetricDifference:
    """One metric, B − A over the cycles both completed, relative to A's mean."""

    metric: str
    mean_a: float
    mean_b: float
    difference: float  # mean of the per-cycle B − A
    low: float  # 95% interval of that mean difference
    high: float
    relative: float  # difference / mean_a
    p_value: float
    n: int  # paired cycles
    method: str


@dataclass(frozen=True)
class Comparison:
    a: Chosen
    b: Chosen
    fields: tuple[ConfigField, ...]
    metrics: tuple[MetricDifference, ...]

    @property
    def differing(self) -> tuple[ConfigField, ...]:
        return tuple(f for f in self.fields if f.differs)


def _candidates(exp_ids: Sequence[str], labels: Mapping[str, Sequence[str]]) -> str:
    shown = [f"{e} ({' | '.join(labels.get(e, ())) or 'no label'})" for e in sorted(exp_ids)[:_MAX_LISTED]]
    more = len(exp_ids) - len(shown)
    return "; ".join(shown) + (f"; … {more} more" if more > 0 else "")


def resolve_experiment(token: str, labels: Mapping[str, Sequence[str]]) -> str:
    """The exp_id ``token`` names among ``labels``' keys (the done experiments): the exp_id
    itself, one of its labels (``stub m batch_size=8`` or ``batch_size=8``), settings in any
    order that only one label holds (``batch_size=8`` where ``max_output_tokens`` is swept too),
    or a prefix of exactly one exp_id. Raises ``ExperimentChoiceError`` naming the candidates
    otherwise."""
    if token in labels:
        return token
    by_label = [e for e, names in labels.items() if token in names]
    if not by_label and "=" in token:
        by_label = [e for e, names in labels.items() if _holds_settings(names, token)]
    if len(by_label) == 1:
        return by_label[0]
    if len(by_label) > 1:
        raise ExperimentChoiceError(
            f"{token!r} is the label of {len(by_label)} experiments: {_candidates(by_label, labels)}; "
            "name one by its exp_id (a unique prefix is enough)"
        )
    by_prefix = [e for e in labels if e.startswith(token)] if token else []
    if len(by_prefix) == 1:
        return by_prefix[0]
    if by_prefix:
        raise ExperimentChoiceError(
            f"{token!r} is a prefix of {len(by_prefix)} exp_ids: {_candidates(by_prefix, labels)}; "
            "give more of the exp_id"
        )
    raise ExperimentChoiceError(
        f"no done experiment matches {token!r} (an exp_id, a unique prefix of one, or a label); "
        f"done: {_candidates(list(labels), labels) or 'none'}"
    )


def _holds_settings(names: Sequence[str], token: str) -> bool:
    """Every ``key=value`` (and word) of ``token`` is in one of the experiment's labels."""
    wanted = set(token.split())
    return any(wanted <= set(name.split()) for name in names)


def experiment_labels(runs: pd.DataFrame, manifest_labels: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Every done experiment's labels: the manifest's (``stub m batch_size=8``, as ``camp plan``
    and ``camp status`` show it) and the swept values alone (``batch_size=8``, as the summary
    table shows it)."""
    from orchestrator.report.formatting import config_label, label_columns

    if runs.empty:
        return {}
    experiments = runs.drop_duplicates("exp_id")
    columns = label_columns(experiments)
    labels: dict[str, tuple[str, ...]] = {}
    for _, row in experiments.iterrows():
        names = [manifest_labels.get(row["exp_id"], ""), config_label(row, columns)]
        labels[str(row["exp_id"])] = tuple(dict.fromkeys(n for n in names if n))
    return labels


def _chosen(runs: pd.DataFrame, exp_id: str, labels: Mapping[str, Sequence[str]]) -> Chosen:
    row = runs.loc[runs["exp_id"] == exp_id].iloc[0]
    config = {c: row[c] for c in aggregate.config_columns(runs)}
    return Chosen(exp_id, next(iter(labels.get(exp_id, ())), ""), config)


def _text(value: Any) -> str:
    return "—" if value is None or (not isinstance(value, str) and bool(pd.isna(value))) else str(value)


def compare_experiments(
    runs: pd.DataFrame,
    exp_a: str,
    exp_b: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    labels: Mapping[str, Sequence[str]] | None = None,
) -> Comparison:
    """B − A per metric, paired by cycle, relative to A; ``exp_a``/``exp_b`` are exp_ids of
    ``runs`` (``resolve_experiment`` finds them)."""
    labels = labels if labels is not None else experiment_labels(runs, {})
    a, b = _chosen(runs, exp_a, labels), _chosen(runs, exp_b, labels)
    fields = tuple(ConfigField(name, _text(a.config[name]), _text(b.config[name])) for name in a.config)
    by_cycle = runs.set_index("cycle")
    differences = []
    for metric in metrics:
        # stats.paired_comparison gives first − second relative to the second: B − A relative to A.
        paired = stats.paired_comparison(
            by_cycle.loc[by_cycle["exp_id"] == exp_b, metric],
            by_cycle.loc[by_cycle["exp_id"] == exp_a, metric],
            metric,
        )
        differences.append(
            MetricDifference(
                metric,
                mean_a=paired.mean_b,
                mean_b=paired.mean_a,
                difference=paired.mean_diff,
                low=paired.low,
                high=paired.high,
                relative=paired.relative_diff,
                p_value=paired.p_value,
                n=paired.n,
                method=paired.method,
            )
        )
    return Comparison(a, b, fields, tuple(differences))


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def as_json(comparison: Comparison, campaign_dir: str) -> dict[str, Any]:
    """``camp compare --json``: base units (J, s, W, tokens/s); ``relative`` is a fraction of A."""
    from orchestrator.report.formatting import metric_unit

    def side(chosen: Chosen) -> dict[str, Any]:
        return {
            "exp_id": chosen.exp_id,
            "label": chosen.label,
            "config": {k: None if _text(v) == "—" else _plain(v) for k, v in chosen.config.items()},
        }

    return {
        "campaign_dir": campaign_dir,
        "a": side(comparison.a),
        "b": side(comparison.b),
        "differing_fields": [f.name for f in comparison.differing],
        "difference": "b - a",
        "relative_to": "a",
        "confidence": stats.CONFIDENCE,
        "metrics": [
            {
                "metric": m.metric,
                "unit": metric_unit(m.metric, [1.0]).name,
                "a_mean": _number(m.mean_a),
                "b_mean": _number(m.mean_b),
                "difference": _number(m.difference),
                "ci_low": _number(m.low),
                "ci_high": _number(m.high),
                "relative": _number(m.relative),
                "p_value": _number(m.p_value),
                "n": m.n,
                "method": m.method,
            }
            for m in comparison.metrics
        ],
    }


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as the Python value JSON writes."""
    return value.item() if hasattr(value, "item") else value
