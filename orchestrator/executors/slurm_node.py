"""What a Slurm job runs on its node: the run's request, through the site's runtime — ``docker``
(the docker runtime's own ``docker compose run --rm``), ``apptainer`` (a ``.sif``) or
``process`` (the local runtime: the harness under the job's Python). submitit pickles a call of
``run_on_node`` into the job; what it returns (an ``ExecOutcome``) comes back to the host
through submitit's result file on shared storage, and what the run printed is also the job's
log, so a job Slurm killed still leaves its tail."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from camp_contract.image_variables import HOST_VARIABLE, SLURM_JOB_VARIABLE
from orchestrator.executors.runtime import ExecOutcome, RunRequest


@dataclass(frozen=True)
class NodeTask:
    """Everything the node needs, picklable: the request and how the site starts runs."""

    request: RunRequest
    runtime: str  # docker, apptainer, process
    compose_file: Path
    sif: Path | None = None


def where_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables that tell the harness where it runs: this node, this Slurm job."""
    environ = dict(os.environ) if environ is None else environ
    env = {HOST_VARIABLE: environ.get("SLURMD_NODENAME") or socket.gethostname()}
    if environ.get("SLURM_JOB_ID"):
        env[SLURM_JOB_VARIABLE] = environ["SLURM_JOB_ID"]
    return env


def run_on_node(task: NodeTask) -> ExecOutcome:
    request = dataclasses.replace(task.request, env={**task.request.env, **where_env()})
    if task.runtime == "docker":
        from orchestrator.executors.docker import DockerRuntime

        outcome = DockerRuntime(task.compose_file).execute(request)
    elif task.runtime == "apptainer":
        from orchestrator.executors.apptainer import execute_apptainer

        if task.sif is None:
            return ExecOutcome(None, "", error=f"site.yaml images: names no .sif for {request.backend}")
        outcome = execute_apptainer(request, task.sif)
    else:
        from orchestrator.executors.local import LocalRuntime

        outcome = LocalRuntime().execute(request)
    sys.stdout.write(outcome.output)  # the job's log: its tail is kept even where Slurm kills it
    sys.stdout.flush()
    return outcome
