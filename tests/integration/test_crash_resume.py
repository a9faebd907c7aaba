"""kill -9 of `camp run` at random instants, many times: the manifest is never corrupt, a run
left `running` is retried, and in the end every (exp_id, cycle) is done exactly once, no
container is left, and no per-run file (which may hold HF_TOKEN) outlives its run.

Docker trials: CAMP_KILL9_TRIALS (default 12, what CI runs: about a minute and a half); the
acceptance figure is 50: `CAMP_KILL9_TRIALS=50 pytest -m docker tests/integration/test_crash_resume.py`."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camp_contract import layout
from camp_contract.models import RunResult
from orchestrator.campaign import load_campaign
from orchestrator.manifest import Manifest
from tests.integration.conftest import REPO, camp, camp_containers

TRIALS = 8
DOCKER_TRIALS = int(os.environ.get("CAMP_KILL9_TRIALS", "12"))


def start_camp(
    campaign: Path, results: Path, executor: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "run",
            str(campaign),
            "--results-dir",
            str(results),
            "--executor",
            executor,
        ],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def done_events(campaign_dir: Path) -> dict[tuple[str, int], int]:
    db = sqlite3.connect(f"file:{campaign_dir / 'manifest.sqlite'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT exp_id, cycle, COUNT(*) FROM events WHERE state = 'done' GROUP BY exp_id, cycle"
    )
    counts = {(e, c): n for e, c, n in rows}
    db.close()
    return counts


def kill_at_random_instants(
    campaign: Path, results: Path, executor: str, trials: int, seed: int, env: dict[str, str] | None = None
) -> int:
    rng = random.Random(seed)
    killed_mid_run = 0
    for _ in range(trials):
        process = start_camp(campaign, results, executor, env)
        time.sleep(rng.uniform(0.3, 4.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        process.wait()
        with Manifest.open_readonly(results / load_campaign(campaign).name) as manifest:
            assert manifest.integrity_ok()
    return killed_mid_run


def assert_each_run_done_exactly_once(campaign: Path, results: Path) -> None:
    name = load_campaign(campaign).name
    campaign_dir = results / name
    with Manifest.open_readonly(campaign_dir) as manifest:
        runs = manifest.runs()
        assert manifest.counts()["done"] == len(runs) == 12
    assert set(done_events(campaign_dir).values()) == {1}
    for run in runs:
        result = RunResult.model_validate_json(
            layout.RunFiles(layout.run_dir(campaign_dir, run.exp_id, run.cycle)).result.read_text()
        )
        assert (result.exp_id, result.cycle) == (run.exp_id, run.cycle)


@pytest.mark.slow
def test_kill_9_at_random_instants_local_executor(smoke_campaign: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    killed = kill_at_random_instants(smoke_campaign, results, "local", TRIALS, seed=20261125)
    assert killed >= TRIALS // 2, "the kills should land while camp is running"
    final = camp("run", str(smoke_campaign), "--results-dir", str(results), "--executor", "local")
    assert final.returncode == 0, final.stdout + final.stderr
    assert_each_run_done_exactly_once(smoke_campaign, results)
    # no orphaned harness survived its camp
    ps = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout
    assert not [line for line in ps.splitlines() if str(tmp_path) in line and not line.startswith("Z")]


@pytest.mark.docker
@pytest.mark.slow
def test_kill_9_with_containers_in_flight_then_resume(smoke_campaign: Path, tmp_path: Path) -> None:
    results, temp = tmp_path / "results", tmp_path / "tmp"
    temp.mkdir()
    token = "hf_kill9secret" + "x" * 20
    env = {"TMPDIR": str(temp), "HF_TOKEN": token}
    name = load_campaign(smoke_campaign).name
    kill_at_random_instants(smoke_campaign, results, "docker", DOCKER_TRIALS, seed=7, env=env)
    final = camp("run", str(smoke_campaign), "--results-dir", str(results), "--executor", "docker", env=env)
    assert final.returncode == 0, final.stdout + final.stderr
    assert_each_run_done_exactly_once(smoke_campaign, results)
    assert camp_containers(name) == []
    assert list(temp.iterdir()) == []  # every killed camp's per-run files were swept
    for path in results.rglob("*"):
        assert not path.is_file() or token.encode() not in path.read_bytes(), path
