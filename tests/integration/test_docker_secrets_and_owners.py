"""Through real containers: a secret reaches the harness as a read-only 0600 file, never as
environment (not in `docker inspect`, the process list, results, logs or the manifest) and no
file holding it outlives its run, even after `kill -9` of camp; two campaigns of one name with
other results never touch each other's containers; SIGTERM stops camp as Ctrl-C does."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, camp, status

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKER = ("--executor", "docker")
TOKEN = f"hf_camptest{uuid.uuid4().hex}"


def hanging_campaign(tmp_path: Path, name: str, timeout_s: int) -> Path:
    path = tmp_path / f"{name}-{timeout_s}.yaml"
    path.write_text(
        f"name: {name}\nmodels: [stub-model]\nbackends: {{stub: {{grid: {{fault: [hang]}}}}}}\n"
        "workload: {n_requests: 2, max_output_tokens: 4}\n"
        "measurement: {sample_hz: 20, baseline: {duration_s: 0.2}, warmup: {max_requests: 0}}\n"
        f"retries: 0\ncycles: 1\ntimeout_s: {timeout_s}\n"
    )
    return path


def start(campaign: Path, results: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(campaign), "--results-dir", str(results), *DOCKER],
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def containers(label: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def wait_for(label: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while not (found := containers(label)):
        assert time.monotonic() < deadline, f"no container labelled {label} started"
        time.sleep(0.2)
    return found[0]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_hf_token_is_a_mounted_private_file_never_environment_and_never_outlives_its_run(
    tmp_path: Path,
) -> None:
    name = f"sec-{uuid.uuid4().hex[:10]}"
    results, temp = tmp_path / "results", tmp_path / "tmp"
    temp.mkdir()
    env = {"HF_TOKEN": TOKEN, "TMPDIR": str(temp)}
    process = start(hanging_campaign(tmp_path, name, 600), results, env)
    try:
        container = wait_for(f"camp.campaign={name}")
        time.sleep(1)
        inspect = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
        assert TOKEN not in inspect.stdout  # not in Config.Env, labels, args or mounts
        (config,) = json.loads(inspect.stdout)
        assert not any(
            e.startswith(("HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=")) for e in config["Config"]["Env"]
        )
        inside = subprocess.run(
            ["docker", "exec", container, "cat", "/run/secrets/camp-secrets.json"],
            capture_output=True,
            text=True,
        )
        assert json.loads(inside.stdout) == {"HF_TOKEN": TOKEN}  # the harness can read it
        ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
        assert TOKEN not in ps
        (secrets,) = temp.glob(f"camp-run-{process.pid}-*/secrets.json")
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
        assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert secrets.exists()  # what kill -9 leaves behind: the next start must remove it
    again = camp(
        "run",
        str(hanging_campaign(tmp_path, name, 5)),
        "--results-dir",
        str(results),
        "--executor",
        "docker",
        env=env,
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert "timed out after 5s" in json.dumps(status(results / name))
    assert list(temp.iterdir()) == []  # swept, and this run's own files removed
    assert containers(f"camp.campaign={name}") == []
    for path in files_under(results):
        assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in again.stdout + again.stderr


def test_two_campaigns_of_one_name_never_remove_each_others_containers_and_sigterm_is_ctrl_c(
    tmp_path: Path,
) -> None:
    name = f"own-{uuid.uuid4().hex[:10]}"
    first_results, second_results = tmp_path / "first", tmp_path / "second"
    first = start(hanging_campaign(tmp_path, name, 600), first_results, {})
    try:
        container = wait_for(f"camp.campaign={name}")
        second = camp(
            "run",
            str(hanging_campaign(tmp_path, name, 3)),
            "--results-dir",
            str(second_results),
            "--executor",
            "docker",
        )
        assert second.returncode == 1 and "removed container" not in second.stdout, second.stdout
        assert container in containers(f"camp.campaign={name}")  # the first's run goes on
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)  # as systemd, Slurm and `timeout` stop a job
        _, stderr = first.communicate(timeout=90)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143, stderr
    assert "interrupted by SIGTERM" in stderr
    assert containers(f"camp.campaign={name}") == []
    (run,) = status(first_results / name)["runs"]
    assert run["state"] == "interrupted" and run["error"] == "interrupted by SIGTERM"
