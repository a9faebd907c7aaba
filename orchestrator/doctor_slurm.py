"""``camp doctor --executor slurm --site site.yaml``: can this cluster run a campaign?

Checks, each ok or fail with the fix: Slurm's commands answer; the site's partition exists and
is up; a tiny job on a node starts and, through the site's runtime, finds what a run needs
(Docker and the stub image, the .sif files, or camp under the node's Python); and the results
directory the job sees is the one the host writes (shared storage), proven by a token the host
writes and the job reads back.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from camp_contract.layout import doctor_probe_path
from orchestrator.doctor import Check, _attempt
from orchestrator.executors import slurm_jobs
from orchestrator.executors.slurm_site import SlurmSite

COMMANDS = ("sinfo", "sbatch", "scontrol", "squeue", "scancel")
PROBE_TIMEOUT_S = 180.0
PROBE_TIME_LIMIT_MIN = 5


def probe_script(site: SlurmSite, token_file: Path) -> str:
    """What the probe job runs on a node: print the node, the token the host wrote (shared
    storage), then check the site's runtime. Any failing step exits non-zero with its reason."""
    lines = ["set -e", "echo node=$(hostname)", f"echo token=$(cat {shlex.quote(str(token_file))})"]
    lines += list(site.setup)
    if site.runtime == "docker":
        lines.append("docker info --format 'docker={{.ServerVersion}}'")
        lines.append("docker compose version --short | sed 's/^/compose=/'")
        # camp's images on the node (their label); none means `make images` was not run there
        lines.append(
            "echo images=$(docker images --filter label=camp.image --format '{{.Repository}}' | sort -u"
            " | paste -sd, -)"
        )
    elif site.runtime == "apptainer":
        lines.append("apptainer --version | sed 's/^/apptainer=/'")
        for backend, sif in sorted(site.images.items()):
            quoted = shlex.quote(str(sif))
            lines.append(f"test -r {quoted} || {{ echo 'missing {backend} image {sif}' >&2; exit 3; }}")
    else:
        python = shlex.quote(site.python or "python3")
        lines.append(f"{python} -c 'import harness, camp_contract; print(\"camp=ok\")'")
    return "\n".join(lines)


def sbatch_command(site: SlurmSite, output: Path) -> list[str]:
    """The probe's ``sbatch``: the site's partition, account and QoS, one task, a short limit."""
    command = ["sbatch", "--parsable", "--job-name=camp-doctor", f"--output={output}", "--ntasks=1"]
    command.append(f"--time={PROBE_TIME_LIMIT_MIN}")
    for flag, value in (("partition", site.partition), ("account", site.account), ("qos", site.qos)):
        if value:
            command.append(f"--{flag}={value}")
    if site.mem:
        command.append(f"--mem={site.mem}")
    return command


def run_slurm_checks(
    site: SlurmSite,
    results_root: Path,
    timeout_s: float = PROBE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    checks = [
        _attempt("slurm commands", _commands, "install Slurm's client commands (slurm-client) on this host")
    ]
    if checks[-1].level != "ok":
        return checks
    checks.append(
        _attempt(
            "partition",
            lambda: _partition(site.partition),
            "name an existing partition in the site file (`sinfo -s` lists them)",
        )
    )
    shared = site.shared_storage
    if shared is not None:
        checks.append(
            _attempt(
                "shared storage",
                lambda: _under_shared_storage(results_root, shared),
                f"pass a --results-dir under {shared}",
            )
        )
    if any(c.level == "fail" for c in checks):
        return checks
    checks.append(
        _attempt(
            f"a job on a node ({site.runtime} runtime, results visible)",
            lambda: _probe_job(site, results_root, timeout_s, sleep),
            "see the job's output above; check the site's runtime on the nodes and that the results "
            "directory is on storage the nodes mount",
        )
    )
    return checks


def _commands() -> str:
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise RuntimeError(f"not on PATH: {', '.join(missing)}")
    reason = slurm_jobs.problem()
    if reason:
        raise RuntimeError(reason)
    return "sinfo, sbatch, scontrol, squeue and scancel answer"


def _partition(name: str | None) -> str:
    out = subprocess.run(
        ["sinfo", "-h", "-o", "%P %a %D"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    partitions = {
        p.rstrip("*"): (p.endswith("*"), up, nodes) for p, up, nodes in map(str.split, out.splitlines())
    }
    if name is None:
        default = [p for p, (star, _, _) in partitions.items() if star]
        if not default:
            raise RuntimeError("the site names no partition and the cluster has no default one")
        name = default[0]
    if name not in partitions:
        raise RuntimeError(f"no partition {name!r} (the cluster has: {', '.join(sorted(partitions))})")
    _, up, nodes = partitions[name]
    if up != "up":
        raise RuntimeError(f"partition {name!r} is {up}")
    return f"{name}: up, {nodes} node(s)"


def _under_shared_storage(results_root: Path, shared: Path) -> str:
    root = results_root.resolve()
    if not root.is_relative_to(shared.resolve()):
        raise RuntimeError(f"the results directory {root} is not under the shared storage {shared}")
    return f"{root} is under {shared}"


def _probe_job(site: SlurmSite, results_root: Path, timeout_s: float, sleep: Callable[[float], None]) -> str:
    results_root = results_root.resolve()
    results_root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    token_file = doctor_probe_path(results_root)
    output = token_file.with_name(token_file.name + ".out")
    token_file.write_text(token)
    job_id = ""
    try:
        submitted = subprocess.run(
            sbatch_command(site, output),
            input="#!/bin/bash\n" + probe_script(site, token_file) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        if submitted.returncode != 0:
            raise RuntimeError(f"sbatch refused the probe job: {submitted.stderr.strip() or 'no output'}")
        job_id = submitted.stdout.strip().split(";")[0]
        deadline = time.monotonic() + timeout_s
        state = slurm_jobs.job_state(job_id)
        while state is not None and state.live:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"probe job {job_id} did not finish within {timeout_s:.0f} s "
                    f"({state.state}{': ' + state.reason if state.reason else ''})"
                )
            sleep(1.0)
            state = slurm_jobs.job_state(job_id)
        text = output.read_text(errors="replace") if output.exists() else ""
        found = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if state is not None and state.state != "COMPLETED":
            last = (text.strip().splitlines() or [state.reason or "no output"])[-1]
            raise RuntimeError(f"probe job {job_id} ended {state.state}: {last}")
        if found.get("token") != token:
            raise RuntimeError(
                f"probe job {job_id} on {found.get('node', '?')} did not see {token_file}: the results "
                "directory is not shared with the nodes"
            )
        facts = ", ".join(f"{k} {v}" for k, v in found.items() if k not in ("token", "node"))
        return f"job {job_id} ran on {found.get('node', '?')}, saw the results directory; {facts}"
    finally:
        if job_id:
            state = slurm_jobs.job_state(job_id)
            if state is not None and state.live:
                slurm_jobs.cancel(job_id)  # our own probe only, by id
        token_file.unlink(missing_ok=True)
        output.unlink(missing_ok=True)
