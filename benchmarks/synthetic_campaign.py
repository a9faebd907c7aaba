"""A finished campaign on disk, made without running anything: for timing what reads one.

``write_done_campaign(results_root, n_experiments, cycles)`` writes what ``camp run`` leaves
behind — the real manifest (every run ``done``), each run's ``spec.json`` (the grid's own
``Experiment.spec``), ``result.json`` (a ``RunResult`` shaped like a stub run's: per-request
latencies, sampling, settle, warnings on some runs) and ``timeseries.parquet`` (the contract's
schema) — so ``camp report``, ``camp status`` and the benchmarks read exactly what they read
after a real campaign. Energies follow a known model (per-token energy falling with batch size,
3 % noise between cycles), so intervals and plots are not degenerate.

Files are written plainly, not atomically: this is a fixture in a fresh directory, and fsyncing
tens of thousands of files would only slow the set-up down.

    .venv/bin/python benchmarks/synthetic_campaign.py RESULTS_ROOT --experiments 2000 --cycles 5
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from camp_contract import layout  # noqa: E402
from camp_contract import timeseries as ts  # noqa: E402
from camp_contract.models import RunResult, RunSpec  # noqa: E402
from orchestrator.campaign import parse_campaign  # noqa: E402
from orchestrator.grid import Experiment, expand  # noqa: E402
from orchestrator.manifest import Manifest  # noqa: E402
from orchestrator.schedule import schedule  # noqa: E402

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
OUTPUT_TOKENS = (16, 32, 64, 128)
# Warning kinds put on some runs (about one in six), as a throttled campaign would carry.
WARNINGS = ((7, "throttled", "GPU throttled during the window"), (11, "short_window", "window under 1 s"))
STARTED_AT = "2026-01-01T00:00:00+00:00"
FINISHED_AT = "2026-01-01T00:00:05+00:00"


def campaign_yaml(name: str, n_experiments: int, cycles: int, n_requests: int) -> str:
    """A stub campaign whose grid holds at least ``n_experiments`` points: batch size × output
    length × enough values of ``work_ms_per_token``."""
    per_work = len(BATCH_SIZES) * len(OUTPUT_TOKENS)
    works = [round(0.1 + 0.01 * k, 2) for k in range(math.ceil(n_experiments / per_work))]
    return (
        f"name: {name}\nmodels: [stub-model]\n"
        f"backends:\n  stub:\n    grid:\n      batch_size: {list(BATCH_SIZES)}\n"
        f"      work_ms_per_token: {works}\n"
        f"grid:\n  workload.max_output_tokens: {list(OUTPUT_TOKENS)}\n"
        f"workload:\n  n_requests: {n_requests}\n  max_input_tokens: 32\n"
        f"cycles: {cycles}\nmax_runs: {10 * n_experiments * cycles + 1000}\n"
    )


def experiments_for(name: str, n_experiments: int, cycles: int, n_requests: int) -> list[Experiment]:
    """The first ``n_experiments`` experiments of ``campaign_yaml``'s grid, as ``camp run`` expands them."""
    campaign = parse_campaign(campaign_yaml(name, n_experiments, cycles, n_requests), Path(f"{name}.yaml"))
    return expand(campaign).experiments[:n_experiments]


def result_for(spec: RunSpec, rng: random.Random) -> RunResult:
    """A validated result of one run of ``spec`` (a stub run's shape, energies from a known model)."""
    params: Any = spec.params
    batch, n = params.batch_size, spec.workload.n_requests
    out = spec.workload.max_output_tokens
    tokens = n * out
    duration = n * out * params.work_ms_per_token / 1e3 / batch**0.8 * (1 + 0.03 * rng.gauss(0, 1))
    energy = (60 / math.sqrt(batch) + 5) * tokens / 100 * (1 + 0.03 * rng.gauss(0, 1))
    baseline_w = 40.0
    adjusted = energy - baseline_w * duration * 0.1
    latencies = sorted(duration / n * rng.lognormvariate(0, 0.2) for _ in range(n))
    warnings = [
        {"kind": kind, "message": message}
        for every, kind, message in WARNINGS
        if (int(spec.exp_id, 16) + spec.cycle) % every == 0
    ]
    return RunResult.model_validate(
        {
            "campaign": spec.campaign,
            "exp_id": spec.exp_id,
            "cycle": spec.cycle,
            "backend": spec.backend,
            "model": spec.model,
            "started_at": STARTED_AT,
            "finished_at": FINISHED_AT,
            "metrics": {
                "n_requests": n,
                "input_tokens": n * 32,
                "output_tokens": tokens,
                "duration_s": duration,
                "throughput_tokens_per_s": tokens / duration,
                "requests_per_s": n / duration,
                "latency_mean_s": sum(latencies) / n,
                "latency_p50_s": latencies[n // 2],
                "latency_p90_s": latencies[int(0.9 * (n - 1))],
                "latency_p99_s": latencies[-1],
                "energy_j": energy,
                "energy_adjusted_j": adjusted,
                "energy_per_output_token_j": adjusted / tokens,
                "energy_per_request_j": adjusted / n,
                "avg_power_w": energy / duration,
                "peak_power_w": 1.1 * energy / duration,
                "load_time_s": 0.001,
                "load_energy_j": 0.04,
            },
            "energy": {
                "method": "counter",
                "total_j": energy,
                "counter_j": energy,
                "integrated_j": energy * 1.001,
                "adjusted_j": adjusted,
                "disagreement": 0.001,
                "method_reason": "synthetic",
                "counter_step_s": 0.01,
            },
            "baseline": {
                "power_w": baseline_w,
                "spread_w": 0.0,
                "n_samples": 51,
                "duration_s": 0.5,
                "method": "synthetic",
                "cached": spec.cycle > 0,
                "measured_at": STARTED_AT,
            },
            "warmup": {"n_requests": 2, "converged": True, "final_cv": 0.01},
            "window": (0.8, 0.8 + duration),
            "requests": [{"input_tokens": 32, "output_tokens": out, "latency_s": x} for x in latencies],
            "environment": {
                "gpus": [{"index": 0, "uuid": "SYNTHETIC-0", "name": "synthetic power trace"}],
                "model": {"revision": None},
            },
            "warnings": warnings,
            "provenance": {"camp_version": "0.1.0", "source_revision": "0" * 40, "hostname": "bench"},
            "sampling": {
                "asked_hz": 100.0,
                "achieved_hz": 99.5,
                "n_samples_window": max(2, int(duration * 100)),
                "max_interval_s": 0.011,
                "power_readings": {"SYNTHETIC-0": "synthetic"},
            },
        }
    )


def timeseries_bytes(seconds: float = 3.0, hz: float = 100.0) -> bytes:
    """One run's trace in the contract's schema (a synthetic GPU: idle, then a loaded window)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = int(seconds * hz)
    t = [i / hz for i in range(n)]
    phases = [ts.PHASE_BASELINE if x < 0.5 else ts.PHASE_WARMUP if x < 0.8 else ts.PHASE_MEASURED for x in t]
    columns: dict[str, list[Any]] = {
        ts.T_S: t,
        ts.SOURCE: ["synthetic"] * n,
        ts.DEVICE: ["SYNTHETIC-0"] * n,
        ts.DEVICE_INDEX: [0] * n,
        ts.PHASE: phases,
    }
    for column in ts.READING_COLUMNS:
        columns[column] = [None] * n
    columns[ts.POWER_W] = [40.0 if p == ts.PHASE_BASELINE else 160.0 for p in phases]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(columns, schema=ts.arrow_schema()), buffer)
    return buffer.getvalue()


def mark_all_done(campaign_dir: Path) -> None:
    """Every run of the manifest ``done``, with its events, in one transaction (as many
    ``mark_running`` + ``mark_finished`` would leave it, without one fsync per run)."""
    db = sqlite3.connect(layout.manifest_path(campaign_dir))
    try:
        with db:
            db.execute(
                "UPDATE runs SET state = 'done', attempts = 1, exit_code = 0, "
                "started_at = ?, finished_at = ?",
                (STARTED_AT, FINISHED_AT),
            )
            for state, at in (("running", STARTED_AT), ("done", FINISHED_AT)):
                db.execute(
                    "INSERT INTO events (at, exp_id, cycle, state) SELECT ?, exp_id, cycle, ? FROM runs",
                    (at, state),
                )
    finally:
        db.close()


def write_done_campaign(
    results_root: Path,
    n_experiments: int,
    cycles: int,
    *,
    n_requests: int = 16,
    name: str = "synthetic",
    seed: int = 0,
    with_timeseries: bool = True,
) -> Path:
    """Write a campaign of ``n_experiments`` × ``cycles`` done runs under ``results_root``; return
    its directory (what ``camp report`` and ``camp status`` take)."""
    rng = random.Random(seed)
    experiments = experiments_for(name, n_experiments, cycles, n_requests)
    campaign_dir = layout.campaign_dir(Path(results_root), name)
    campaign_dir.mkdir(parents=True, exist_ok=True)
    order = schedule([e.exp_id for e in experiments], cycles, "interleaved", seed)
    with Manifest.open(campaign_dir) as manifest:
        manifest.sync(name, "synthetic", experiments, order)
    trace = timeseries_bytes() if with_timeseries else None
    for experiment in experiments:
        for cycle in range(cycles):
            spec = experiment.spec(name, cycle)
            files = layout.RunFiles(layout.run_dir(campaign_dir, spec.exp_id, cycle))
            files.dir.mkdir(parents=True, exist_ok=True)
            files.spec.write_text(spec.model_dump_json(indent=2))
            files.result.write_text(result_for(spec, rng).model_dump_json(indent=2))
            if trace is not None:
                files.timeseries.write_bytes(trace)
    mark_all_done(campaign_dir)
    return campaign_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results_root", type=Path)
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--requests", type=int, default=16, help="measured requests per run")
    parser.add_argument("--name", default="synthetic")
    args = parser.parse_args()
    campaign_dir = write_done_campaign(
        args.results_root, args.experiments, args.cycles, n_requests=args.requests, name=args.name
    )
    print(json.dumps({"campaign_dir": str(campaign_dir), "runs": args.experiments * args.cycles}))


if __name__ == "__main__":
    main()
