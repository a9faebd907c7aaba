"""Failures on the real container path: each is recorded with its exit code and reason, the
campaign goes on, and no camp container is ever left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, camp, camp_containers, status

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def campaign(tmp_path: Path, faults: list[str], **settings: object) -> tuple[Path, str]:
    name = f"fail-{uuid.uuid4().hex[:10]}"
    lines = [
        f"name: {name}",
        "models: [stub-model]",
        f"backends: {{stub: {{grid: {{fault: [{', '.join(faults)}]}}}}}}",
        "workload: {n_requests: 2, max_output_tokens: 4}",
        "measurement: {sample_hz: 20, baseline: {duration_s: 0.2}, warmup: {max_requests: 0}}",
        "retries: 0",
        *[f"{key}: {value}" for key, value in {"cycles": 1, "timeout_s": 60, **settings}.items()],
    ]
    path = tmp_path / "campaign.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, name


def run_states(results: Path, name: str) -> dict[str, dict]:
    return {run["label"].split("fault=")[1]: run for run in status(results / name)["runs"]}


def test_crash_exit0_sigkill_and_oom_are_failures_with_reasons(tmp_path: Path) -> None:
    path, name = campaign(tmp_path, ["crash", "exit0", "sigkill", "oom", "none"], max_consecutive_failures=10)
    results = tmp_path / "results"
    result = camp("run", str(path), "--results-dir", str(results), "--executor", "docker")
    assert result.returncode == 1, result.stdout + result.stderr
    runs = run_states(results, name)
    assert runs["none"]["state"] == "done"
    assert runs["crash"]["exit_code"] == 1  # its reason from the error.json the harness wrote
    assert runs["crash"]["error"].endswith("— [run] RuntimeError: injected fault: the backend crashed")
    assert runs["exit0"]["exit_code"] == 0 and "no result.json was written" in runs["exit0"]["error"]
    assert (
        runs["sigkill"]["exit_code"] == 137 and "killed: out of memory or SIGKILL" in runs["sigkill"]["error"]
    )
    assert runs["oom"]["exit_code"] == 137 and "out of memory" in runs["oom"]["error"]
    assert camp_containers(name) == []


def test_timeout_kills_the_container_by_name(tmp_path: Path) -> None:
    path, name = campaign(tmp_path, ["hang"], timeout_s=5)
    results = tmp_path / "results"
    started = time.monotonic()
    result = camp("run", str(path), "--results-dir", str(results), "--executor", "docker")
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    run = run_states(results, name)["hang"]
    assert run["state"] == "failed" and "timed out after 5s" in run["error"]
    assert camp_containers(name) == []


def test_circuit_breaker_stops_the_campaign(tmp_path: Path) -> None:
    path, name = campaign(tmp_path, ["crash"], cycles=4, max_consecutive_failures=2)
    results = tmp_path / "results"
    result = camp("run", str(path), "--results-dir", str(results), "--executor", "docker")
    assert result.returncode == 1
    assert "2 attempts in a row failed" in result.stdout
    counts = status(results / name)["counts"]
    assert counts["failed"] == 2 and counts["pending"] == 2


def wait_for_container(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not camp_containers(name):
        assert time.monotonic() < deadline, "no container started"
        time.sleep(0.2)


def test_ctrl_c_stops_the_container_marks_interrupted_and_exits_130(tmp_path: Path) -> None:
    path, name = campaign(tmp_path, ["hang"], timeout_s=600)
    results = tmp_path / "results"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "run",
            str(path),
            "--results-dir",
            str(results),
            "--executor",
            "docker",
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        wait_for_container(name)
        second = camp("run", str(path), "--results-dir", str(results), "--executor", "docker")
        assert second.returncode == 1 and "in use by another `camp run`" in second.stderr
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert camp_containers(name) == []
    assert status(results / name)["counts"]["interrupted"] == 1
