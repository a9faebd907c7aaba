"""Per-run dispatch overhead of the docker executor, side by side with a bare container, in one
run on one engine (the rows alternate, so a busy machine slows them all alike).

    .venv/bin/python benchmarks/dispatch_overhead.py [--runs 10] [--image camp-stub:latest]

Rows (medians; ratio = row / bare):
  bare            `docker compose run --rm --no-deps -T stub true`: what any container costs
  python          the same with `python3 -c pass`: the image's interpreter starting
  libraries       the same with `python3 -c` importing click and pyarrow.parquet and validating
                  one one-field pydantic model: what a harness using the libraries camp chose
                  must pay before any code of camp's runs
  harness start   the same with `camp-harness --version`: Python and the harness CLI's imports
  harness run     the same with `camp-harness run SPEC`: a run that measures next to nothing
                  (no settle gate, no baseline, no warmup, one request of one token, no work)
  camp dispatch   camp's whole path for that run: `DockerRuntime.execute` (the stale container
                  removed, the image inspected, the per-run env files, compose run, the output
                  followed) and the result judged as the runner judges it
and "… less measured": the same less the phases the result says were measured (the window and
the load), which a campaign asks for and dispatch must never shorten.

The dispatch ratio is camp dispatch less measured over bare: what a run costs beyond its
measured phases, as a multiple of a container that does nothing. The lines under it split the
difference (camp dispatch less measured − bare) into the host side (camp dispatch − harness
run), Python's start (python − bare), the libraries' imports (libraries − python) and the
harness's own work (harness run less measured − libraries: its modules, the contract's models,
the run's bookkeeping and files); "floor" is libraries / bare, the least any harness that
validates with pydantic and writes its trace with pyarrow could reach.

Needs the stub image (`bash scripts/provision-docker.sh`); ``--image`` times another build of it
(compose.yaml is copied with that image). docs/architecture.md ("Performance") quotes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

import yaml  # noqa: E402

from camp_contract import layout  # noqa: E402
from camp_contract.models import RunResult, RunSpec  # noqa: E402
from orchestrator.attempt import begin_attempt, judge_attempt  # noqa: E402
from orchestrator.executors.docker import DockerRuntime  # noqa: E402
from orchestrator.executors.runtime import RunRequest, campaign_owner  # noqa: E402
from orchestrator.secrets import run_env_files  # noqa: E402

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "compose.yaml"
CAMPAIGN = "dispatch"
EXP_ID = "d15a7c400000"
# What the harness cannot run without: its CLI, the contract's validation (a pydantic model
# validated: `import pydantic` alone defers most of pydantic), the trace's writer.
LIBRARIES = "\n".join(
    [
        "import click, pyarrow.parquet",
        "from pydantic import BaseModel",
        "class M(BaseModel): x: int",
        "M(x=1)",
    ]
)
LABELS = {
    "bare": "bare: compose run --rm stub true",
    "python": "python: python3 -c pass",
    "libraries": "libraries: click, pyarrow.parquet, a pydantic model",
    "start": "harness start: camp-harness --version",
    "run": "harness run: camp-harness run SPEC",
    "run_m": "  … less measured (window + load)",
    "camp": "camp dispatch: DockerRuntime.execute + verdict",
    "camp_m": "  … less measured (window + load)",
}


def nothing_measured_spec(cycle: int) -> RunSpec:
    """A stub run whose measured phases take next to no time: what is left is dispatch."""
    return RunSpec.model_validate(
        {
            "campaign": CAMPAIGN,
            "exp_id": EXP_ID,
            "cycle": cycle,
            "backend": "stub",
            "model": "stub-model",
            "params": {"batch_size": 1, "work_ms_per_token": 0},
            "workload": {"n_requests": 1, "max_input_tokens": 1, "max_output_tokens": 1},
            "measurement": {
                "power_source": "synthetic",
                "sample_hz": 100,
                "baseline": {"enabled": False},
                "settle": {"enabled": False},
                "warmup": {"min_requests": 0, "max_requests": 0},
            },
        }
    )


def compose(compose_file: Path, env_file: Path, *command: str) -> Callable[[], float]:
    """A timed `docker compose run --rm` of the stub with ``command``, as camp's user."""
    argv = [
        "docker",
        "compose",
        "-f",
        str(compose_file),
        "--env-file",
        str(env_file),
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "stub",
        *command,
    ]

    def timed() -> float:
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return time.perf_counter() - started

    return timed


def compose_file_for(image: str | None, directory: Path) -> Path:
    """compose.yaml, or a copy of it whose stub service runs ``image``."""
    if image is None:
        return COMPOSE_FILE
    config = yaml.safe_load(COMPOSE_FILE.read_text())
    config["services"]["stub"]["image"] = image
    copy = directory / "compose.yaml"
    copy.write_text(yaml.safe_dump(config))
    return copy


def measured_s(result_path: Path) -> float:
    """The phases a campaign asks for, from the result: the measured window and the load."""
    result = RunResult.model_validate_json(result_path.read_bytes())
    return result.metrics.duration_s + result.metrics.load_time_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each row")
    parser.add_argument("--image", default=None, help="the stub image to time (default: compose.yaml's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="camp-dispatch-") as tmp:
        results = Path(tmp) / "results"
        results.mkdir()
        compose_file = compose_file_for(args.image, Path(tmp))
        campaign_dir = layout.campaign_dir(results, CAMPAIGN)
        runtime = DockerRuntime(compose_file)
        variables = runtime._variables(results)
        rows: dict[str, list[float]] = {k: [] for k in LABELS}
        with run_env_files(variables) as files:
            bare = compose(compose_file, files.compose_env, "true")
            python = compose(compose_file, files.compose_env, "python3", "-c", "pass")
            libraries = compose(compose_file, files.compose_env, "python3", "-c", LIBRARIES)
            start = compose(compose_file, files.compose_env, "camp-harness", "--version")
            for i in range(args.runs + 1):  # the first round warms the engine's caches: not counted
                cycle = 2 * i
                files_h = layout.RunFiles(layout.run_dir(campaign_dir, EXP_ID, cycle))
                begin_attempt(files_h, nothing_measured_spec(cycle))
                spec_in_container = layout.run_files(Path("/results"), CAMPAIGN, EXP_ID, cycle).spec
                run = compose(compose_file, files.compose_env, "camp-harness", "run", str(spec_in_container))
                samples = {"bare": bare(), "python": python(), "libraries": libraries()}
                samples |= {"start": start(), "run": run()}
                samples["run_m"] = samples["run"] - measured_s(files_h.result)
                files_c = layout.RunFiles(layout.run_dir(campaign_dir, EXP_ID, cycle + 1))
                request = RunRequest(
                    campaign=CAMPAIGN,
                    exp_id=EXP_ID,
                    cycle=cycle + 1,
                    backend="stub",
                    results_root=results,
                    spec_path=files_c.spec,
                    timeout_s=120,
                    owner=campaign_owner(campaign_dir),
                )
                started = time.perf_counter()
                begin_attempt(files_c, nothing_measured_spec(cycle + 1))
                verdict = judge_attempt(files_c, EXP_ID, cycle + 1, runtime.execute(request), 120)
                samples["camp"] = time.perf_counter() - started
                if not verdict.ok:
                    sys.exit(f"the stub run failed: {verdict}")
                samples["camp_m"] = samples["camp"] - measured_s(files_c.result)
                if i:
                    for key, value in samples.items():
                        rows[key].append(value)
    report({k: statistics.median(v) for k, v in rows.items()}, rows, args.runs)


def report(median: dict[str, float], rows: dict[str, list[float]], runs: int) -> None:
    """Each row with its ratio to bare, then the dispatch ratio and where its overhead goes."""
    print(f"{runs} runs each, alternating; median (min–max) and ratio to bare")
    for key, label in LABELS.items():
        values = rows[key]
        print(
            f"  {label:<52} {median[key]:6.3f} s ({min(values):.3f}–{max(values):.3f})"
            f"   {median[key] / median['bare']:5.2f}×"
        )
    bare = median["bare"]
    ratio = median["camp_m"] / bare
    print(f"dispatch ratio (camp dispatch less measured / bare): {ratio:.2f}× (goal ≤ 1.10×)")
    parts = {
        "host side (camp dispatch − harness run)": median["camp"] - median["run"],
        "Python's start (python − bare)": median["python"] - bare,
        "the libraries' imports (libraries − python)": median["libraries"] - median["python"],
        "the harness's own (run less measured − libraries)": median["run_m"] - median["libraries"],
    }
    print(f"  overhead {1e3 * (median['camp_m'] - bare):.0f} ms over bare, of which:")
    for label, seconds in parts.items():
        print(f"    {label:<52} {1e3 * seconds:5.0f} ms")
    print(f"  floor (libraries / bare): {median['libraries'] / bare:.2f}×")


if __name__ == "__main__":
    main()
