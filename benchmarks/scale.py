"""How camp scales: every row of issue 12's table, measured, side by side with its goal.

Builds stub campaigns of 1k / 10k / 100k experiments (one cycle each, so as many runs) and
synthetic done campaigns (spec.json and result.json written from the contract's own models,
the manifest by the runner's own set-up), then measures each command as a real subprocess
(medians of repeats; peak RSS of that child from ``os.wait4``):

  plan      ``camp plan`` of the campaign
  set-up    what a first ``camp run`` does before its first run: load, expand, order, write the
            manifest (the runner's set-up path, with the local runtime; nothing is dispatched)
  status    ``camp status`` and ``camp status --json`` of a 99 %-done manifest of that size
  report    ``camp report`` of a done campaign (sizes up to 10k runs: 5 cycles each)
  start-up  ``camp --help`` and ``camp --version`` (beside a bare ``python -c pass``)
  dispatch  per-run wall time of a minimal stub campaign through ``--executor docker`` against a
            bare ``docker compose run --rm stub true``, in the same run (needs Docker)
  image     the stub image's size (``docker image inspect``)

Run:   python benchmarks/scale.py [--sizes 1k,10k,100k] [--rows plan,setup,...] [--repeats N]
Smoke: python benchmarks/scale.py --smoke   (1k/10k, one repeat, no docker rows unless --rows
       names them; CI runs it at 1k, tests/test_scale_bench.py). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "containers")]
TREE = [ROOT]  # the checkout whose code the measured commands run (--against: another, in turn)

ROWS = ("plan", "setup", "status", "report", "startup", "dispatch", "image")
DOCKER_ROWS = ("dispatch", "image")
REPORT_CYCLES = 5
REPORT_MAX_RUNS = 10_000
STUB_IMAGE = "camp-stub:latest"
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
# The goals (at 100k experiments / runs for plan, set-up and status; 10k runs for report).
GOALS: dict[str, tuple[float, str]] = {
    "plan": (2.0, "< 2 s at 100k"),
    "setup": (3.0, "< 3 s at 100k"),
    "status": (0.5, "< 0.5 s at 100k"),
    "status --json": (0.5, "< 0.5 s at 100k"),
    "report": (10.0, "< 10 s at 10k runs"),
    "--help": (0.12, "< 0.12 s"),
    "--version": (0.12, "< 0.12 s"),
}
GOAL_SIZE = {"plan": 100_000, "setup": 100_000, "status": 100_000, "status --json": 100_000, "report": 10_000}

# What a first `camp run` does before dispatching (cli._run, then CampaignRunner.run up to its
# first run), with the local runtime, which needs no engine.
# What a first `camp run` does before dispatching (cli._run, then CampaignRunner.run up to its
# first run), with the local runtime, which needs no engine. In a function, as in the command:
# what it built is freed when it returns, not torn down with the interpreter's globals (which
# runs the collector over all of it several times, as no `camp run` does).
SETUP_SNIPPET = """
import sys
from pathlib import Path
from orchestrator.campaign import load_campaign
from orchestrator.executors.local import LocalRuntime
from orchestrator.grid import expand
from orchestrator.lock import campaign_lock
from orchestrator.manifest import Manifest
from orchestrator.runner import CampaignRunner


def set_up(campaign_file, results):
    campaign = load_campaign(campaign_file)
    expansion = expand(campaign)  # the command line's check that something would run
    echo = lambda line: None
    try:
        runner = CampaignRunner(campaign, results, LocalRuntime(), echo, expansion=expansion)
    except TypeError:  # a runner that expands the campaign again itself
        runner = CampaignRunner(campaign, results, LocalRuntime(), echo)
    with campaign_lock(runner.campaign_dir), Manifest.open(runner.campaign_dir) as manifest:
        runner._prepare(manifest)


set_up(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@dataclass(frozen=True)
class Sample:
    wall_s: float
    max_rss_mib: float


@dataclass(frozen=True)
class Row:
    what: str
    size: str
    wall_s: float | None
    max_rss_mib: float | None = None
    extra: str = ""
    goal_key: str | None = None
    n: int | None = None


class Failed(RuntimeError):
    """A measured command failed (out of memory under the cap, say): its row says so."""


ORDER: list[str | None] = [None]  # the campaigns' order.mode (None: the default, balanced)
MEMORY_CAP_GIB = [8.0]  # a shared machine: a command that would take more fails instead


def _memory_cap() -> None:
    cap = int(MEMORY_CAP_GIB[0] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def child_env() -> dict[str, str]:
    """This checkout's code first on the path of every child, whatever else is installed."""
    tree = TREE[0]
    path = os.pathsep.join([str(tree), str(tree / "containers"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)}


def run_once(command: Sequence[str]) -> Sample:
    """One subprocess: its wall time and its own peak RSS. Linux keeps the high-water mark of the
    process that forked a child through its ``exec``, so a child of this (larger) process would
    report at least this one's RSS: GNU time, a tiny parent, measures it where installed, else
    ``os.wait4`` does (an upper bound)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *command] if GNU_TIME else list(command)
        start = time.perf_counter()
        process = subprocess.Popen(
            wrapped,
            cwd=TREE[0],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_memory_cap,  # no threads here
        )
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            last = (errors.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise Failed(f"exited {code}: {last[:120]}")
        max_rss_kib = int(rss_file.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    return Sample(wall, max_rss_kib / 1024)


def median_run(command: Sequence[str], repeats: int, before_each: Callable[[], None] | None = None) -> Sample:
    samples = []
    for _ in range(repeats):
        if before_each is not None:
            before_each()
        samples.append(run_once(command))
    return Sample(
        statistics.median(s.wall_s for s in samples), statistics.median(s.max_rss_mib for s in samples)
    )


def camp(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli", *args]


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(text[:-1]) * 1000 if text.endswith("k") else int(text)


# -- campaigns ---------------------------------------------------------------------------------


def campaign_yaml(name: str, experiments: int, cycles: int, *, minimal: bool = False) -> str:
    """A stub campaign of exactly ``experiments`` grid points (batch size × work per token)."""
    batches = next(b for b in (100, 50, 25, 20, 10, 5, 4, 2, 1) if experiments % b == 0 and b <= experiments)
    works = [round(0.5 * i, 1) for i in range(experiments // batches)]
    campaign: dict[str, Any] = {
        "name": name,
        "models": ["stub-model"],
        "backends": {
            "stub": {"grid": {"batch_size": list(range(1, batches + 1)), "work_ms_per_token": works}}
        },
        "workload": {"n_requests": 4, "max_input_tokens": 8, "max_output_tokens": 4},
        "cycles": cycles,
        "max_runs": max(experiments * cycles, 1),
        "executor": "local",
    }
    if ORDER[0] is not None:  # --order: another than the default (balanced)
        campaign["order"] = {"mode": ORDER[0]}
    if minimal:  # the least a run can measure: what is left of its time is dispatch
        campaign["workload"] = {"n_requests": 1, "max_input_tokens": 1, "max_output_tokens": 1}
        campaign["executor"] = "docker"
        campaign["measurement"] = {
            "sample_hz": 100,
            "baseline": {"duration_s": 0.1, "recheck_s": 0},
            "settle": {"probe_s": 0.1},
            "warmup": {"min_requests": 0, "max_requests": 0, "window": 2},
        }
        campaign["backends"]["stub"]["params"] = {"work_ms_per_token": 0}
    return json.dumps(campaign)  # JSON is YAML


def write_campaign(directory: Path, name: str, experiments: int, cycles: int, **kw: Any) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(campaign_yaml(name, experiments, cycles, **kw))
    return path


def set_up(campaign_file: Path, results: Path) -> Sample:
    return run_once([sys.executable, "-c", SETUP_SNIPPET, str(campaign_file), str(results)])


def campaign_dir_of(results: Path, name: str) -> Path:
    from camp_contract import layout

    return layout.campaign_dir(results, name)


def manifest_bytes(campaign_dir: Path) -> int:
    return sum(p.stat().st_size for p in campaign_dir.glob("manifest.sqlite*"))


def mark_states(campaign_dir: Path, failed_every: int = 200, pending_every: int = 200) -> None:
    """A campaign nearly done: all runs done but one in ``failed_every`` failed and one in
    ``pending_every`` still pending (a fixture, so one bulk statement, not one per run)."""
    from camp_contract.layout import manifest_path

    db = sqlite3.connect(manifest_path(campaign_dir))
    with db:
        db.execute(
            "UPDATE runs SET state = 'done', attempts = 1, exit_code = 0, "
            "started_at = '2026-01-01T00:00:00.000+00:00', finished_at = '2026-01-01T00:00:05.000+00:00'"
        )
        db.execute(
            "UPDATE runs SET state = 'failed', exit_code = 1, error = 'exited with code 1 — [run] "
            "RuntimeError: synthetic' WHERE position % ? = 1",
            (failed_every,),
        )
        db.execute(
            "UPDATE runs SET state = 'pending', attempts = 0, exit_code = NULL, finished_at = NULL "
            "WHERE position % ? = 2",
            (pending_every,),
        )
    db.close()


def write_done_results(campaign_file: Path, campaign_dir: Path) -> int:
    """spec.json and result.json of every run, from the contract's models, with 3 % noise."""
    import random

    from camp_contract import layout
    from camp_contract.models import RunResult
    from orchestrator.campaign import load_campaign
    from orchestrator.grid import expand

    campaign = load_campaign(campaign_file)
    rng = random.Random(0)
    written = 0
    for experiment in expand(campaign).experiments:
        batch = experiment.params.model_dump()["batch_size"]
        for cycle in range(campaign.cycles):
            spec = experiment.spec(campaign.name, cycle)
            files = layout.RunFiles(layout.run_dir(campaign_dir, spec.exp_id, cycle))
            files.dir.mkdir(parents=True, exist_ok=True)
            files.spec.write_text(spec.model_dump_json())
            result = RunResult.model_validate(synthetic_result(spec, batch, rng))
            files.result.write_text(result.model_dump_json())
            written += 1
    return written


def synthetic_result(spec: Any, batch: int, rng: Any) -> dict[str, Any]:
    n, out = spec.workload.n_requests, spec.workload.max_output_tokens
    tokens = n * out
    duration = 4.0 / batch**0.8 * (1 + 0.03 * rng.gauss(0, 1))
    energy = (60 / batch**0.5 + 5) * (1 + 0.03 * rng.gauss(0, 1))
    adjusted = energy - 2.0 * duration
    latencies = [duration / n * rng.lognormvariate(0, 0.2) for _ in range(n)]
    ordered = sorted(latencies)
    return {
        "campaign": spec.campaign,
        "exp_id": spec.exp_id,
        "cycle": spec.cycle,
        "backend": spec.backend,
        "model": spec.model,
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:00:05+00:00",
        "metrics": {
            "n_requests": n,
            "input_tokens": n * spec.workload.max_input_tokens,
            "output_tokens": tokens,
            "duration_s": duration,
            "throughput_tokens_per_s": tokens / duration,
            "requests_per_s": n / duration,
            "latency_mean_s": sum(latencies) / n,
            "latency_p50_s": statistics.median(latencies),
            "latency_p90_s": ordered[int(0.9 * (n - 1))],
            "latency_p99_s": ordered[-1],
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
            {"input_tokens": spec.workload.max_input_tokens, "output_tokens": out, "latency_s": x}
            for x in latencies
        ],
        "environment": {},
    }


# -- the rows ----------------------------------------------------------------------------------


def measure_plan(work: Path, n: int, repeats: int) -> list[Row]:
    campaign_file = write_campaign(work, f"plan-{size_label(n)}", n, 1)
    sample = median_run(camp("plan", str(campaign_file)), repeats)
    return [Row("camp plan", size_label(n), sample.wall_s, sample.max_rss_mib, goal_key="plan", n=n)]


def measure_setup_and_status(work: Path, n: int, repeats: int) -> list[Row]:
    name = f"scale-{size_label(n)}"
    campaign_file = write_campaign(work, name, n, 1)
    results = work / f"results-{name}"
    samples = []
    for _ in range(repeats):
        shutil.rmtree(results, ignore_errors=True)
        samples.append(set_up(campaign_file, results))
    campaign_dir = campaign_dir_of(results, name)
    size_mb = manifest_bytes(campaign_dir) / 1e6
    setup = Row(
        "first camp run set-up",
        size_label(n),
        statistics.median(s.wall_s for s in samples),
        statistics.median(s.max_rss_mib for s in samples),
        f"manifest {size_mb:.1f} MB",
        "setup",
        n,
    )
    mark_states(campaign_dir)
    plain = median_run(camp("status", str(campaign_dir)), repeats)
    as_json = median_run(camp("status", str(campaign_dir), "--json"), repeats)
    return [
        setup,
        Row("camp status", size_label(n), plain.wall_s, plain.max_rss_mib, goal_key="status", n=n),
        Row(
            "camp status --json",
            size_label(n),
            as_json.wall_s,
            as_json.max_rss_mib,
            goal_key="status --json",
            n=n,
        ),
    ]


def measure_report(work: Path, runs: int, repeats: int) -> list[Row]:
    name = f"report-{size_label(runs)}"
    campaign_file = write_campaign(work, name, runs // REPORT_CYCLES, REPORT_CYCLES)
    results = work / f"results-{name}"
    set_up(campaign_file, results)
    campaign_dir = campaign_dir_of(results, name)
    written = write_done_results(campaign_file, campaign_dir)
    mark_states(campaign_dir, failed_every=10**9, pending_every=10**9)
    sample = median_run(camp("report", str(campaign_dir)), repeats)
    return [
        Row(
            "camp report",
            f"{size_label(runs)} runs",
            sample.wall_s,
            sample.max_rss_mib,
            f"{written} results, {REPORT_CYCLES} cycles",
            "report",
            runs,
        )
    ]


def measure_startup(repeats: int) -> list[Row]:
    bare = median_run([sys.executable, "-c", "pass"], repeats)
    rows = [Row("python -c pass (reference)", "", bare.wall_s, bare.max_rss_mib)]
    for flag in ("--help", "--version"):
        sample = median_run(camp(flag), repeats)
        rows.append(Row(f"camp {flag}", "", sample.wall_s, sample.max_rss_mib, goal_key=flag))
    return rows


def docker_problem() -> str | None:
    """Why no docker row can be measured here (None: an engine answers)."""
    if shutil.which("docker") is None:
        return "docker not available (no docker command)"
    try:
        probe = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "docker not available (the engine did not answer in 20 s)"
    if probe.returncode != 0:
        return "docker not available (no engine answers)"
    return None


def measure_dispatch(work: Path, repeats: int, experiments: int = 4, cycles: int = 3) -> list[Row]:
    """Per-run wall time of camp's docker path against a bare container, measured alternately."""
    compose = ROOT / "compose.yaml"
    bare_command = ["docker", "compose", "-f", str(compose), "run", "--rm", "stub", "true"]
    results = work / "results-dispatch"
    results.mkdir(parents=True, exist_ok=True)
    env = {**child_env(), "CAMP_RESULTS_DIR": str(results)}
    subprocess.run(bare_command, env=env, capture_output=True, check=True)  # warm the engine's cache
    campaign_file = write_campaign(work, "dispatch", experiments, cycles, minimal=True)
    bare, per_run = [], []
    for attempt in range(repeats):
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(bare_command, env=env, capture_output=True, check=True)
            bare.append(time.perf_counter() - start)
        shutil.rmtree(campaign_dir_of(results, "dispatch"), ignore_errors=True)
        done = subprocess.run(
            camp("run", str(campaign_file), "--executor", "docker", "--results-dir", str(results)),
            cwd=TREE[0],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the dispatch campaign failed (attempt {attempt + 1}): {done.stderr[-2000:]}")
        per_run += run_walls(campaign_dir_of(results, "dispatch"))
    camp_s, bare_s = statistics.median(per_run), statistics.median(bare)
    return [
        Row("docker compose run --rm stub true", "", bare_s, extra=f"median of {len(bare)}"),
        Row(
            "camp run, per run (docker)",
            f"{experiments * cycles} runs",
            camp_s,
            extra=f"median of {len(per_run)}; ratio {camp_s / bare_s:.2f}× (goal ≤ 1.10×)",
        ),
    ]


def run_walls(campaign_dir: Path) -> list[float]:
    """Each run's wall time as the manifest saw it: marked running → its verdict recorded."""
    from datetime import datetime

    from camp_contract.layout import manifest_path

    db = sqlite3.connect(manifest_path(campaign_dir))
    try:
        rows = db.execute("SELECT started_at, finished_at FROM runs WHERE state = 'done'").fetchall()
    finally:
        db.close()
    return [(datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() for a, b in rows]


def measure_image() -> list[Row]:
    probe = subprocess.run(
        ["docker", "image", "inspect", STUB_IMAGE, "--format", "{{.Size}}"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return [Row(f"{STUB_IMAGE} image", "", None, extra="not built here (make provision builds it)")]
    megabytes = int(probe.stdout.strip()) / 1e6
    return [Row(f"{STUB_IMAGE} image", "", None, extra=f"{megabytes:.0f} MB (goal: smaller than 381 MB)")]


# -- printing ----------------------------------------------------------------------------------


def verdict(row: Row) -> str:
    if row.goal_key is None or row.wall_s is None:
        return ""
    limit, text = GOALS[row.goal_key]
    at = GOAL_SIZE.get(row.goal_key)
    if at is not None and row.n != at:
        return f"(goal {text})"
    return f"{text}: {'meets it' if row.wall_s < limit else 'OVER'}"


def print_row(row: Row) -> None:
    wall = f"{row.wall_s:8.3f} s" if row.wall_s is not None else " " * 10
    rss = f"{row.max_rss_mib:6.0f} MiB" if row.max_rss_mib is not None else " " * 10
    line = f"{row.what:<34} {row.size:>9}  {wall}  {rss}  {row.extra:<24} {verdict(row)}"
    print(line.rstrip(), flush=True)


def emit(what: str, measure: Callable[[], list[Row]], only: Sequence[str] = ROWS) -> None:
    """Print the rows ``measure`` gives (of the row kinds in ``only``), or why it failed; with
    --against, measured on each checkout in turn, the other's rows marked."""
    for tree, tag in TREES:
        TREE[0] = tree
        try:
            rows = measure()
        except (Failed, subprocess.CalledProcessError) as err:
            print(f"{what + tag:<34} {'':>9}  failed: {err}", flush=True)
            continue
        for row in rows:
            if row.goal_key is None or row.goal_key.split()[0] in only or row.goal_key.startswith("--"):
                print_row(dataclasses.replace(row, what=row.what + tag))
    TREE[0] = ROOT


TREES: list[tuple[Path, str]] = [(ROOT, "")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="comma separated (default 1k,10k,100k; --smoke 1k,10k)")
    parser.add_argument("--rows", default=None, help=f"comma separated, of {','.join(ROWS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="medians of so many (default 5, smoke 1)")
    parser.add_argument("--smoke", action="store_true", help="CI: small sizes, one repeat, no docker rows")
    parser.add_argument(
        "--memory-cap-gib", type=float, default=8.0, help="address space each command may take (default 8)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another checkout of camp (say, before a change): each row measured on both, in turn",
    )
    parser.add_argument(
        "--order",
        choices=("balanced", "interleaved", "shuffled", "grouped"),
        default=None,
        help="the campaigns' order.mode (default: camp's default, balanced)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="build the campaigns here and keep them")
    args = parser.parse_args(argv)

    sizes = [parse_size(s) for s in (args.sizes or ("1k,10k" if args.smoke else "1k,10k,100k")).split(",")]
    if args.rows:
        rows = [r.strip() for r in args.rows.split(",")]
        unknown = sorted(set(rows) - set(ROWS))
        if unknown:
            parser.error(f"unknown row(s) {', '.join(unknown)}: choose from {', '.join(ROWS)}")
    else:
        rows = [r for r in ROWS if not (args.smoke and r in DOCKER_ROWS)]
    repeats = args.repeats or (1 if args.smoke else 5)
    MEMORY_CAP_GIB[0] = args.memory_cap_gib
    ORDER[0] = args.order
    if args.against is not None:
        TREES.insert(0, (args.against.resolve(), " [against]"))

    work = args.keep or Path(tempfile.mkdtemp(prefix="camp-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.version.split()[0]
    order = args.order or "balanced (default)"
    print(
        f"camp scale: sizes {', '.join(map(size_label, sizes))}; medians of {repeats}; order {order}; "
        f"python {python}"
    )
    print(f"{'what':<34} {'size':>9}  {'time':>10}  {'peak RSS':>10}  {'':<24} goal")
    try:
        for n in sizes:
            if "plan" in rows:
                emit(f"camp plan {size_label(n)}", lambda n=n: measure_plan(work, n, repeats))
            if "setup" in rows or "status" in rows:
                emit(
                    f"set-up and status {size_label(n)}",
                    lambda n=n: measure_setup_and_status(work, n, repeats),
                    rows,
                )
            if "report" in rows and n <= REPORT_MAX_RUNS:
                emit(f"camp report {size_label(n)}", lambda n=n: measure_report(work, n, min(repeats, 3)))
        if "startup" in rows:
            emit("start-up", lambda: measure_startup(3 if args.smoke else max(repeats, 10)))
        if any(r in rows for r in DOCKER_ROWS):
            problem = docker_problem()
            if problem is not None:
                print(f"{'dispatch, image':<34} {'':>9}  {problem}")
            if problem is None and "dispatch" in rows:
                emit("dispatch", lambda: measure_dispatch(work, min(repeats, 3)))
            if problem is None and "image" in rows:
                emit("image", measure_image)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
