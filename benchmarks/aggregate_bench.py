"""How long aggregation takes for a large campaign (default 10k experiments × 5 cycles).

Times, on synthetic runs with known spread:
  1. in memory: building the runs and requests tables, the per-experiment intervals of every
     summary metric (bootstrap-t at 5 cycles), the request latency intervals over cycles, and the
     terminal summary, and counting warned runs per experiment and kind (with the
     --exclude-warned mask);
  2. side by side with the obvious per-experiment loop (one call per group), as speed-up ratios;
  3. on disk: reading and validating spec.json + result.json of every run and building the tables.

Run: .venv/bin/python benchmarks/aggregate_bench.py [--experiments N] [--cycles C] [--disk-experiments M]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats as sps

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from camp_contract import layout  # noqa: E402
from camp_contract.models import RunResult, RunSpec  # noqa: E402
from orchestrator import aggregate, stats, warned  # noqa: E402
from orchestrator.report import terminal  # noqa: E402

T = TypeVar("T")
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
DTYPES = ("float16", "bfloat16", "float32")


def timed(
    label: str, fn: Callable[[], T], per: int | None = None, unit: str = "experiment"
) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    cost = f"   {elapsed / per * 1e6:9.1f} µs per {unit}" if per else ""
    print(f"  {label:<44} {elapsed:8.3f} s{cost}")
    return value, elapsed


def synthetic_runs(
    n_experiments: int, cycles: int, n_requests: int, seed: int = 0
) -> list[aggregate.LoadedRun]:
    """Runs of a grid over models × batch sizes × dtypes with 3% cycle-to-cycle noise."""
    rng = np.random.default_rng(seed)
    loaded = []
    out_tokens = 64
    for i in range(n_experiments):
        batch = BATCH_SIZES[i % len(BATCH_SIZES)]
        dtype = DTYPES[(i // len(BATCH_SIZES)) % len(DTYPES)]
        model = f"model-{i // (len(BATCH_SIZES) * len(DTYPES))}"
        spec_fields: dict[str, Any] = {
            "campaign": "bench",
            "exp_id": f"{i:012x}",
            "backend": "pytorch",
            "model": model,
            "params": {"batch_size": batch, "dtype": dtype},
            "workload": {"n_requests": n_requests, "max_output_tokens": out_tokens},
        }
        for cycle in range(cycles):
            spec = RunSpec.model_validate({**spec_fields, "cycle": cycle})
            duration = 4.0 / batch**0.8 * (1 + 0.03 * rng.standard_normal())
            energy = (60 / np.sqrt(batch) + 5) * (1 + 0.03 * rng.standard_normal())
            loaded.append(aggregate.LoadedRun(spec, _result(spec, energy, duration, rng), Path(".")))
    return loaded


def _result(spec: RunSpec, energy: float, duration: float, rng: np.random.Generator) -> RunResult:
    n = spec.workload.n_requests
    tokens = n * spec.workload.max_output_tokens
    adjusted = energy - 2.0 * duration
    latencies = (duration / n * rng.lognormal(0, 0.2, n)).tolist()
    return RunResult.model_validate(
        {
            "campaign": spec.campaign,
            "exp_id": spec.exp_id,
            "cycle": spec.cycle,
            "backend": spec.backend,
            "model": spec.model,
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:00:05+00:00",
            "metrics": {
                "n_requests": n,
                "input_tokens": n * 32,
                "output_tokens": tokens,
                "duration_s": duration,
                "throughput_tokens_per_s": tokens / duration,
                "requests_per_s": n / duration,
                "latency_mean_s": float(np.mean(latencies)),
                "latency_p50_s": float(np.median(latencies)),
                "latency_p90_s": float(np.quantile(latencies, 0.9)),
                "latency_p99_s": float(np.quantile(latencies, 0.99)),
                "energy_j": energy,
                "energy_adjusted_j": adjusted,
                "energy_per_output_token_j": adjusted / tokens,
                "energy_per_request_j": adjusted / n,
                "avg_power_w": energy / duration,
                "peak_power_w": 1.2 * energy / duration,
                "load_time_s": 1.0,
                "load_energy_j": 20.0,
            },
            "energy": {
                "method": "integration",
                "total_j": energy,
                "counter_j": None,
                "integrated_j": energy,
                "adjusted_j": adjusted,
                "disagreement": None,
            },
            "baseline": {
                "power_w": 2.0,
                "spread_w": 0.1,
                "n_samples": 50,
                "duration_s": 5.0,
                "method": "synthetic",
                "cached": True,
                "measured_at": "2026-01-01T00:00:00+00:00",
            },
            "warmup": {"n_requests": 3, "converged": True, "final_cv": 0.02},
            "window": (0.0, duration),
            "requests": [
                {"input_tokens": 32, "output_tokens": spec.workload.max_output_tokens, "latency_s": x}
                for x in latencies
            ],
            "environment": {},
        }
    )


def with_warnings(runs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The runs with warning kinds on about half of them (a badly throttled campaign)."""
    kinds = np.array(["", "", "", "throttled", "short_window,throttled", "negative_energy"])
    picked = kinds[np.random.default_rng(seed).integers(0, len(kinds), len(runs))]
    return runs.assign(warning_kinds=picked)


def naive_t(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """The per-experiment loop the vectorised path replaces (scipy.stats.t.interval per group)."""
    rows = []
    for exp_id, group in frame.groupby("exp_id"):
        x = group[value].to_numpy()
        low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
        rows.append((exp_id, x.mean(), low, high, len(x)))
    return pd.DataFrame(rows, columns=["exp_id", "mean", "low", "high", "n"])


def naive_bootstrap_t(frame: pd.DataFrame, value: str) -> list[tuple[float, float]]:
    """One bootstrap-t call per experiment."""
    out = []
    for _, group in frame.groupby("exp_id"):
        low, high = stats.bootstrap_t_rows(group[value].to_numpy()[None, :])
        out.append((float(low[0]), float(high[0])))
    return out


def in_memory(n_experiments: int, cycles: int, n_requests: int) -> None:
    print(f"\nin memory: {n_experiments} experiments × {cycles} cycles, {n_requests} requests per run")
    loaded, _ = timed(
        "synthesise runs (setup, not aggregation)",
        lambda: [aggregate.run_record(r) for r in synthetic_runs(n_experiments, cycles, n_requests)],
    )
    runs, t_runs = timed(
        "runs table (flatten config + metrics)", lambda: aggregate.runs_frame(loaded), n_experiments
    )
    requests, t_req = timed("requests table", lambda: aggregate.requests_frame(loaded), n_experiments)
    experiments, t_exp = timed(
        f"{stats.method_for(cycles)} intervals, {len(aggregate.SUMMARY_METRICS)} metrics",
        lambda: aggregate.experiments_frame(runs),
        n_experiments,
    )
    _, t_lat = timed(
        "request latency intervals (over cycles)",
        lambda: aggregate.request_latency_frame(requests),
        n_experiments,
    )
    _, t_sum = timed("terminal summary", lambda: terminal.format_summary(experiments), n_experiments)
    warned_runs = with_warnings(runs)
    _, t_warned = timed(
        "warned runs: counts per kind + exclusion mask",
        lambda: (warned.experiment_counts(warned_runs), warned.excluded_mask(warned_runs, ["throttled"])),
        n_experiments,
    )
    total = t_runs + t_req + t_exp + t_lat + t_sum + t_warned
    print(f"  {'total':<44} {total:8.3f} s   {total / n_experiments * 1e6:9.1f} µs per experiment")
    print(f"  {'total without request latency':<44} {total - t_lat:8.3f} s")
    assert experiments["energy_per_output_token_j_method"].eq(stats.method_for(cycles)).all()


def side_by_side(cycles: int, n_requests: int) -> None:
    print("\nside by side with a per-experiment scipy loop (same numbers, checked)")
    n_t, n_boot = 2000, 100
    loaded = [aggregate.run_record(r) for r in synthetic_runs(n_t, cycles, n_requests, seed=1)]
    runs = aggregate.runs_frame(loaded)
    metric = "energy_per_output_token_j"
    only_t = 10**9  # Student-t at every n: the path n < 4 takes
    fast, t_fast = timed(
        f"vectorised t, {n_t} experiments", lambda: stats.summarise(runs, metric, bootstrap_min_n=only_t), n_t
    )
    slow, t_slow = timed(f"loop of scipy t.interval, {n_t} experiments", lambda: naive_t(runs, metric), n_t)
    np.testing.assert_allclose(fast["low"], slow["low"], rtol=1e-10)
    print(f"  → vectorised t intervals are {t_slow / t_fast:.0f}× faster")
    some = runs[runs["exp_id"].isin(runs["exp_id"].unique()[:n_boot])]
    fast_b, b_fast = timed(
        f"stacked bootstrap-t, {n_boot} experiments", lambda: stats.summarise(some, metric), n_boot
    )
    slow_b, b_slow = timed(
        f"one bootstrap-t call each, {n_boot} experiments", lambda: naive_bootstrap_t(some, metric), n_boot
    )
    np.testing.assert_allclose(fast_b["low"], [lo for lo, _ in slow_b], rtol=1e-9)
    print(f"  → stacking experiments of one size into one bootstrap call is {b_slow / b_fast:.1f}× faster")


def on_disk(n_experiments: int, cycles: int, n_requests: int) -> None:
    print(f"\non disk: {n_experiments} experiments × {cycles} cycles = {n_experiments * cycles} run dirs")
    loaded = synthetic_runs(n_experiments, cycles, n_requests, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def write() -> list[Path]:
            dirs = []
            for run in loaded:
                files = layout.RunFiles(layout.run_dir(root, run.spec.exp_id, run.spec.cycle))
                files.dir.mkdir(parents=True)
                files.spec.write_text(run.spec.model_dump_json())
                files.result.write_text(run.result.model_dump_json())
                dirs.append(files.dir)
            return dirs

        dirs, _ = timed("write spec + result files (setup)", write)
        n_runs = len(dirs)
        tables, t_load = timed(
            "read + validate + all tables (aggregate_runs)",
            lambda: aggregate.aggregate_runs(dirs),
            n_runs,
            "run",
        )
        timed(
            "  same without the request latency table",
            lambda: aggregate.aggregate_runs(dirs, request_stats=False),
            n_runs,
            "run",
        )
        _, t_write = timed("write runs/experiments parquet + csv", lambda: _write(tables, root / "aggregate"))
        assert len(tables.runs) == n_runs
        per_experiment_ms = (t_load + t_write) / n_experiments * 1e3
        print(f"  {'per experiment, read to written tables':<44} {per_experiment_ms:8.3f} ms")


def _write(tables: aggregate.CampaignTables, out: Path) -> None:
    aggregate.write_tables(tables.runs, out)
    aggregate.write_table(tables.experiments, out, "experiments")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--requests", type=int, default=8, help="measured requests per run")
    parser.add_argument("--disk-experiments", type=int, default=10_000, help="0 skips the on-disk part")
    args = parser.parse_args()
    in_memory(args.experiments, args.cycles, args.requests)
    side_by_side(args.cycles, args.requests)
    if args.disk_experiments:
        on_disk(args.disk_experiments, args.cycles, args.requests)


if __name__ == "__main__":
    main()
