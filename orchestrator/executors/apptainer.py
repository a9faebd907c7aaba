"""The apptainer runtime: a run in ``apptainer exec --nv`` on a ``.sif`` image built from camp's
own image (``apptainer build camp-vllm.sif docker-daemon://camp-vllm:latest``), for cluster
nodes without Docker. Used on a node by the slurm executor; the image's identity is the
``.sif``'s SHA-256, recorded as the result's image ID."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path, PurePosixPath

from camp_contract import layout
from camp_contract.image_variables import IMAGE_ID_VARIABLE
from orchestrator.executors.runtime import ExecOutcome, RunRequest
from orchestrator.secrets import redact

CONTAINER_RESULTS = PurePosixPath("/results")
CHUNK = 1 << 20


def sif_digest(sif: Path) -> str:
    """``sha256:<hex>`` of the image file: what the result records as the image it ran in."""
    digest = hashlib.sha256()
    with sif.open("rb") as image:
        while chunk := image.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def apptainer_command(request: RunRequest, sif: Path, env: dict[str, str]) -> list[str]:
    """The command that runs the harness on ``request`` in ``sif``: GPUs through ``--nv``, the
    results directory bound at /results, a clean environment but for the run's variables."""
    spec = layout.run_files(CONTAINER_RESULTS, request.campaign, request.exp_id, request.cycle).spec
    command = [
        "apptainer",
        "exec",
        "--nv",
        "--cleanenv",
        "--bind",
        f"{request.results_root.resolve()}:{CONTAINER_RESULTS}",
    ]
    for key in sorted(env):
        command += ["--env", f"{key}={env[key]}"]
    return [*command, str(sif), "camp-harness", "run", str(spec)]


def execute_apptainer(request: RunRequest, sif: Path) -> ExecOutcome:
    """Run it and wait, at most ``timeout_s``."""
    if not sif.is_file():
        return ExecOutcome(None, "", error=f"no apptainer image at {sif} (site.yaml images:)")
    env = {**request.env, IMAGE_ID_VARIABLE: sif_digest(sif)}
    if request.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(request.gpus)
    try:
        done = subprocess.run(
            apptainer_command(request, sif, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=request.timeout_s,
            check=False,
            env=os.environ.copy(),
        )
    except FileNotFoundError:
        return ExecOutcome(None, "", error="apptainer is not installed on this node")
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else ""
        return ExecOutcome(124, redact(output), timed_out=True)
    return ExecOutcome(done.returncode, redact(done.stdout.decode(errors="replace")))
