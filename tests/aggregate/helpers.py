"""Run directories with known numbers, laid out exactly as the harness leaves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from camp_contract import layout
from camp_contract.models import (
    RequestRecord,
    RunResult,
    RunSpec,
    RunWarning,
    Workload,
)
from tests.factories import make_result


def make_spec(exp_id: str, cycle: int, backend: str = "stub", **params: Any) -> RunSpec:
    return RunSpec(
        campaign="demo",
        exp_id=exp_id,
        cycle=cycle,
        backend=backend,  # type: ignore[arg-type]
        model="tiny-random:gpt2",
        params=params,
        workload=Workload(n_requests=4, max_output_tokens=16),
    )


def write_run(campaign_dir: Path, spec: RunSpec, result: RunResult) -> Path:
    files = layout.RunFiles(layout.run_dir(campaign_dir, spec.exp_id, spec.cycle))
    files.dir.mkdir(parents=True, exist_ok=True)
    files.spec.write_text(spec.model_dump_json())
    files.result.write_text(result.model_dump_json())
    return files.dir


def write_experiment(
    campaign_dir: Path,
    exp_id: str,
    energies_j: list[float],
    *,
    duration_s: float = 2.0,
    latencies: list[float] | None = None,
    **params: Any,
) -> list[Path]:
    """One experiment with one cycle per energy value (64 output tokens per run)."""
    dirs = []
    for cycle, energy in enumerate(energies_j):
        spec = make_spec(exp_id, cycle, **params)
        overrides: dict[str, Any] = {}
        if latencies is not None:
            overrides["requests"] = tuple(
                RequestRecord(input_tokens=8, output_tokens=16, latency_s=x) for x in latencies
            )
        dirs.append(
            write_run(
                campaign_dir, spec, make_result(spec, energy_j=energy, duration_s=duration_s, **overrides)
            )
        )
    return dirs


def add_warnings(run_dir: Path, *kinds: str) -> None:
    """Give a written run warnings of these kinds, as the harness would have."""
    path = layout.RunFiles(run_dir).result
    result = RunResult.model_validate_json(path.read_bytes())
    warnings = (*result.warnings, *(RunWarning(kind=k, message=f"{k} happened") for k in kinds))
    path.write_text(result.model_copy(update={"warnings": warnings}).model_dump_json())


def t_interval(values: Any, confidence: float = 0.95) -> tuple[float, float]:
    """camp's Student-t interval by statsmodels: at n = 3 its quantile is taken at the widened
    level ``stats.t_level`` gives (skew-safe coverage, see stats.py)."""
    from statsmodels.stats.weightstats import DescrStatsW

    from orchestrator import stats

    array = np.asarray(values, dtype=float)
    low, high = DescrStatsW(array).tconfint_mean(alpha=1 - stats.t_level(len(array), confidence))
    return float(low), float(high)
