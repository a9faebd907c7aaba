"""Per-run dispatch overhead through Slurm: camp's path (submitit job, Python start-up and
pickles on the node, the outcome read back from shared storage, polled with scontrol) against a
bare ``sbatch --wrap true`` polled the same way, in one run on the same Slurm.

    python benchmarks/slurm_dispatch_overhead.py [--jobs 10] [--poll-s 0.5] [--partition camp]

Both submit a job that does nothing and wait until its outcome is known here, so the difference
is what camp adds per run on top of Slurm's own scheduling. docs/architecture.md quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.executors.runtime import ExecOutcome, RunRequest
from orchestrator.executors.slurm import SlurmRuntime
from orchestrator.executors.slurm_jobs import job_state
from orchestrator.executors.slurm_site import SlurmSite


def noop_on_node(_: object) -> ExecOutcome:
    return ExecOutcome(0, "")


class NoopSlurmRuntime(SlurmRuntime):
    """camp's dispatch path, with a task that does nothing in place of the harness."""

    def submit(self, request: RunRequest) -> str:
        import submitit

        executor = submitit.SlurmExecutor(folder=self.folder(request), max_num_timeout=0)
        executor.update_parameters(**self.sbatch_parameters(request))
        return str(executor.submit(noop_on_node, None).job_id)


def bare_sbatch(partition: str | None, poll_s: float) -> float:
    started = time.monotonic()
    command = ["sbatch", "--parsable", "-t", "5", "--mem", "100M", "-o", "/dev/null", "--wrap", "true"]
    if partition:
        command += ["-p", partition]
    job = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    while (state := job_state(job)) is not None and state.live:
        time.sleep(poll_s)
    return time.monotonic() - started


def camp_job(runtime: SlurmRuntime, results: Path, n: int) -> float:
    request = RunRequest(
        campaign="bench",
        exp_id=f"noop{n}",
        cycle=0,
        backend="stub",
        results_root=results,
        spec_path=results / "unused.json",
        timeout_s=60,
        env={"CAMP_SLURM_GPUS": "0"},
    )
    started = time.monotonic()
    outcome = runtime.execute(request)
    took = time.monotonic() - started
    if outcome.exit_code != 0:
        sys.exit(f"the camp job failed: {outcome}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--partition", default=None)
    args = parser.parse_args()
    site = SlurmSite(
        partition=args.partition, request_gpus=False, exclusive=False, mem="100M", poll_s=args.poll_s
    )
    bare, camp = [], []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        runtime = NoopSlurmRuntime(site, Path("compose.yaml"))
        for n in range(args.jobs):  # interleaved, so drift in the machine's load hits both alike
            bare.append(bare_sbatch(args.partition, args.poll_s))
            camp.append(camp_job(runtime, Path(scratch), n))
    for name, times in (("bare sbatch --wrap true", bare), ("camp (submitit + outcome)", camp)):
        print(
            f"{name:<27} median {statistics.median(times):.2f} s  "
            f"min {min(times):.2f} s  max {max(times):.2f} s  (n={len(times)}, poll {args.poll_s:g} s)"
        )
    print(f"camp adds per run: {statistics.median(camp) - statistics.median(bare):+.2f} s (median)")


if __name__ == "__main__":
    main()
