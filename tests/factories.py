"""Builders for contract objects with plausible, known numbers (for tests on the host side)."""

from __future__ import annotations

from typing import Any

from camp_contract.models import (
    BaselineInfo,
    EnergyInfo,
    Metrics,
    RequestRecord,
    RunResult,
    RunSpec,
    WarmupInfo,
)


def run_spec(**fields: Any) -> RunSpec:
    """A valid spec: run t/e/c0 of the stub with model "m"; ``fields`` replace any of these."""
    return RunSpec(**{"campaign": "t", "exp_id": "e", "cycle": 0, "backend": "stub", "model": "m", **fields})


def make_result(
    spec: RunSpec, energy_j: float = 10.0, duration_s: float = 2.0, **overrides: Any
) -> RunResult:
    """A valid result for ``spec``: ``energy_j`` over ``duration_s``, 20 W idle baseline."""
    n = spec.workload.n_requests
    out_tokens = n * spec.workload.max_output_tokens
    baseline_w = 2.0
    adjusted = energy_j - baseline_w * duration_s
    fields: dict[str, Any] = dict(
        campaign=spec.campaign,
        exp_id=spec.exp_id,
        cycle=spec.cycle,
        backend=spec.backend,
        model=spec.model,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:02+00:00",
        metrics=Metrics(
            n_requests=n,
            input_tokens=n * 8,
            output_tokens=out_tokens,
            duration_s=duration_s,
            throughput_tokens_per_s=out_tokens / duration_s,
            requests_per_s=n / duration_s,
            latency_mean_s=0.1,
            latency_p50_s=0.1,
            latency_p90_s=0.12,
            latency_p99_s=0.13,
            energy_j=energy_j,
            energy_adjusted_j=adjusted,
            energy_per_output_token_j=adjusted / out_tokens,
            energy_per_request_j=adjusted / n,
            avg_power_w=energy_j / duration_s,
            peak_power_w=energy_j / duration_s * 1.2,
            load_time_s=0.5,
            load_energy_j=1.0,
        ),
        energy=EnergyInfo(
            method="integration",
            total_j=energy_j,
            counter_j=None,
            integrated_j=energy_j,
            adjusted_j=adjusted,
            disagreement=None,
        ),
        baseline=BaselineInfo(
            power_w=baseline_w,
            spread_w=0.1,
            n_samples=10,
            duration_s=1.0,
            method="synthetic",
            cached=False,
            measured_at="2026-01-01T00:00:00+00:00",
        ),
        warmup=WarmupInfo(n_requests=2, converged=True, final_cv=0.01),
        window=(0.0, duration_s),
        requests=tuple(
            RequestRecord(input_tokens=8, output_tokens=spec.workload.max_output_tokens, latency_s=0.1)
            for _ in range(n)
        ),
        environment={},
    )
    fields.update(overrides)
    return RunResult(**fields)
