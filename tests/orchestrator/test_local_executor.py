"""The local executor with the real harness as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from camp_contract import layout
from camp_contract.atomic import atomic_write_text
from camp_contract.failure import read_failure
from camp_contract.models import MeasurementSettings, RunResult, Workload
from orchestrator.campaign import parse_campaign
from orchestrator.executors.local import LocalRuntime
from orchestrator.executors.runtime import RunRequest
from orchestrator.manifest import Manifest
from orchestrator.runner import CampaignRunner
from tests.factories import run_spec


def request(tmp_path: Path, fault: str, timeout_s: float) -> RunRequest:
    spec = run_spec(
        exp_id="e1",
        params={"batch_size": 2, "work_ms_per_token": 0.1, "fault": fault},
        workload=Workload(n_requests=4, max_output_tokens=4),
        measurement=MeasurementSettings(
            power_source="synthetic", sample_hz=50, baseline={"duration_s": 0.1}, warmup={"max_requests": 2}
        ),
    )
    path = layout.run_files(tmp_path, "t", "e1", 0).spec
    atomic_write_text(path, spec.model_dump_json())
    return RunRequest("t", "e1", 0, "stub", tmp_path, path, timeout_s)


def test_runs_the_real_harness_which_reports_its_checkouts_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMP_SOURCE_REVISION", "stale-from-a-build")  # exported in the shell
    monkeypatch.setenv("CAMP_IMAGE_ID", "sha256:stale")
    run = request(tmp_path, "none", 60)
    outcome = LocalRuntime().execute(run)
    assert outcome.exit_code == 0, outcome.output
    result = RunResult.model_validate_json((run.spec_path.parent / "result.json").read_text())
    assert result.exp_id == "e1"
    assert result.provenance.source_revision.split("-")[0] == checkout_commit()
    assert result.provenance.image_id is None and result.provenance.image is None


def checkout_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_timeout_kills_the_harness(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = LocalRuntime().execute(request(tmp_path, "hang", 3))
    assert outcome.timed_out and time.monotonic() - started < 20


def test_stop_kills_a_running_harness(tmp_path: Path) -> None:
    executor = LocalRuntime()
    run = request(tmp_path, "hang", 120)
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(executor.execute(run)))
    worker.start()
    deadline = time.monotonic() + 20
    while run.container_name not in executor._running and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    executor.stop(run)
    worker.join(20)
    assert outcomes and outcomes[0].exit_code == -9


def test_a_failure_the_harness_caught_is_recorded_from_its_error_json(tmp_path: Path) -> None:
    campaign = parse_campaign(
        """
name: t
models: [m]
backends:
  stub: {params: {fault: crash, work_ms_per_token: 0.1}}
workload: {n_requests: 2, max_output_tokens: 2}
measurement: {sample_hz: 50, baseline: {duration_s: 0.1}, warmup: {max_requests: 2}}
cycles: 1
retries: 0
""",
        Path("t.yaml"),
    )
    CampaignRunner(campaign, tmp_path, LocalRuntime(), lambda _: None).run()
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        (failed,) = manifest.runs(states=("failed",))
    assert failed.error == "exited with code 1 — [run] RuntimeError: injected fault: the backend crashed"
    failure = read_failure(layout.run_files(tmp_path, "t", failed.exp_id, 0).error)
    assert failure is not None and (failure.exp_id, failure.cycle) == (failed.exp_id, 0)


def test_the_harness_starts_through_the_leases_launcher_with_its_variables_and_gpus(tmp_path: Path) -> None:
    """A placement elsewhere (a scheduler's ``srun --jobid=…``) gives a launcher: the harness
    command is handed to it, in the lease's environment. This launcher records and exits."""
    record = tmp_path / "launched.json"
    launcher = (
        sys.executable,
        "-c",
        "import json, os, sys; json.dump({'command': sys.argv[2:], 'job': os.environ.get('SLURM_JOB_ID'),"
        " 'gpus': os.environ.get('CUDA_VISIBLE_DEVICES')}, open(sys.argv[1], 'w'))",
        str(record),
    )
    run = replace(
        request(tmp_path, "none", 60), gpus=("GPU-7",), env={"SLURM_JOB_ID": "42"}, launcher=launcher
    )
    outcome = LocalRuntime().execute(run)
    assert outcome.exit_code == 0, outcome.output
    launched = json.loads(record.read_text())
    assert launched == {
        "command": [sys.executable, "-m", "harness", "run", str(run.spec_path)],
        "job": "42",
        "gpus": "GPU-7",
    }
