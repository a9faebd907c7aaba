"""The slurm executor without a Slurm: site.yaml's errors, what it asks sbatch for, how it reads a
job's end, re-attachment, cancelling only its own job, the apptainer command (against a fake
`apptainer` on PATH: Apptainer is not installed here), and the manifest's job ids."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from orchestrator.config_errors import ConfigError
from orchestrator.executors.apptainer import execute_apptainer
from orchestrator.executors.runtime import RunRequest
from orchestrator.executors.slurm import SlurmRuntime
from orchestrator.executors.slurm_jobs import JobState, parse_scontrol
from orchestrator.executors.slurm_site import SlurmSite, parse_site
from orchestrator.manifest import Manifest


def request(tmp_path: Path, **fields: object) -> RunRequest:
    values: dict[str, object] = {
        "campaign": "c",
        "exp_id": "e1",
        "cycle": 0,
        "backend": "vllm",
        "results_root": tmp_path,
        "spec_path": tmp_path / "spec.json",
        "timeout_s": 60.0,
        "env": {"CAMP_SLURM_GPUS": "2"},
    }
    values.update(fields)
    return RunRequest(**values)  # type: ignore[arg-type]


class FakeJobs:
    """Slurm's answers, scripted: the states job_state returns in turn (the last one sticks)."""

    def __init__(self, states: list[JobState | None], live: list[str] | None = None):
        self.states = states
        self.live = live or []
        self.cancelled: list[str] = []

    def job_state(self, job_id: str) -> JobState | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def live_jobs(self, name: str) -> list[str]:
        return self.live

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


class NoSubmit(SlurmRuntime):
    submitted = 0

    def submit(self, request: RunRequest) -> str:
        self.submitted += 1
        return "7"


def runtime(jobs: FakeJobs, **site: object) -> NoSubmit:
    return NoSubmit(SlurmSite(poll_s=0.01, **site), Path("compose.yaml"), jobs=jobs)  # type: ignore[arg-type]


def test_a_misspelt_site_field_names_the_file_line_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_site("partition: gpu\nexclusiv: false\n", tmp_path / "site.yaml")
    assert "site.yaml:2: exclusiv: unknown field 'exclusiv' — did you mean 'exclusive'?" in str(err.value)
    assert "in the site file" in str(err.value)


def test_apptainer_needs_an_image_per_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"runtime apptainer needs a \.sif"):
        parse_site("runtime: apptainer\n", tmp_path / "site.yaml")


def test_jobs_take_whole_nodes_and_the_gpus_the_run_needs_by_default(tmp_path: Path) -> None:
    parameters = runtime(FakeJobs([None]), gpu_type="a100", partition="gpu").sbatch_parameters(
        request(tmp_path)
    )
    assert parameters["exclusive"] is True
    assert parameters["gres"] == "gpu:a100:2"
    assert parameters["partition"] == "gpu"
    assert parameters["time"] == 1 + 5  # the timeout, in minutes, plus the margin
    cpu_only = runtime(FakeJobs([None]), request_gpus=False, exclusive=False).sbatch_parameters(
        request(tmp_path)
    )
    assert "gres" not in cpu_only and "exclusive" not in cpu_only


def test_scontrol_line_gives_state_exit_code_and_node() -> None:
    line = "JobId=9 JobName=x JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:9 NodeList=n3 BatchHost=n3"
    assert parse_scontrol("9", line) == JobState("9", "OUT_OF_MEMORY", 137, "n3", "OutOfMemory")


def test_a_job_slurm_ends_fails_with_its_state_node_and_log_tail(tmp_path: Path) -> None:
    jobs = FakeJobs(
        [
            JobState("7", "PENDING"),
            JobState("7", "RUNNING", node="n1"),
            JobState("7", "TIMEOUT", 0, "n1", "TimeLimit"),
        ]
    )
    slurm = runtime(jobs)
    folder = slurm.folder(request(tmp_path))
    folder.mkdir(parents=True)
    (folder / "7_0_log.out").write_text("loading model\nstep 40 of 100\n")
    outcome = slurm.execute(request(tmp_path))
    assert outcome.error == "Slurm job 7 ended TIMEOUT on n1 (TimeLimit)"
    assert outcome.tail().endswith("step 40 of 100")


def test_a_recorded_job_is_waited_on_not_submitted_again(tmp_path: Path) -> None:
    recorded: list[str] = []
    jobs = FakeJobs([JobState("5", "RUNNING", node="n1"), JobState("5", "FAILED", 1, "n1")])
    slurm = runtime(jobs)
    outcome = slurm.execute(request(tmp_path, attach_job="5", on_job=recorded.append))
    assert slurm.submitted == 0 and recorded == ["5"]
    assert outcome.error is not None and outcome.error.startswith("Slurm job 5 ended FAILED")


def test_a_live_job_of_this_run_is_found_by_name_when_its_id_was_never_recorded(tmp_path: Path) -> None:
    slurm = runtime(FakeJobs([JobState("8", "FAILED", 1)], live=["8"]))
    slurm.execute(request(tmp_path))
    assert slurm.submitted == 0


def test_stop_cancels_this_runs_job_only(tmp_path: Path) -> None:
    jobs = FakeJobs([JobState("7", "RUNNING")])
    slurm = runtime(jobs)
    mine = request(tmp_path)

    def stop_once_submitted(job_id: str) -> None:
        slurm.stop(mine)
        jobs.states = [JobState("7", "CANCELLED")]

    outcome = slurm.execute(request(tmp_path, on_job=stop_once_submitted))
    slurm.stop(request(tmp_path, exp_id="other"))  # nothing in flight by that name: no cancel
    assert set(jobs.cancelled) == {"7"}
    assert outcome.error is not None and "CANCELLED" in outcome.error


def test_the_apptainer_command_against_a_fake_apptainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apptainer"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\necho measured\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    sif = tmp_path / "camp-vllm.sif"
    sif.write_bytes(b"an image")
    outcome = execute_apptainer(request(tmp_path, env={"CAMP_HOST": "n1"}, gpus=("0",)), sif)
    args = (tmp_path / "args").read_text().splitlines()
    assert outcome.exit_code == 0 and outcome.output == "measured\n"
    assert args[:3] == ["exec", "--nv", "--cleanenv"]
    assert f"{tmp_path.resolve()}:/results" in args
    assert f"CAMP_IMAGE_ID=sha256:{hashlib.sha256(b'an image').hexdigest()}" in args
    assert "CAMP_HOST=n1" in args and "CUDA_VISIBLE_DEVICES=0" in args
    assert args[-4:] == [str(sif), "camp-harness", "run", "/results/c/e1/c0/spec.json"]


def test_an_older_manifest_gains_job_ids_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "manifest.sqlite")
    db.executescript(
        "CREATE TABLE experiments (exp_id TEXT PRIMARY KEY, label TEXT NOT NULL, config TEXT NOT NULL,"
        " active INTEGER NOT NULL DEFAULT 1);"
        "CREATE TABLE runs (exp_id TEXT NOT NULL, cycle INTEGER NOT NULL, state TEXT NOT NULL,"
        " position INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,"
        " exit_code INTEGER, error TEXT, log_tail TEXT, started_at TEXT, finished_at TEXT,"
        " PRIMARY KEY (exp_id, cycle));"
        "INSERT INTO experiments VALUES ('e1', 'l', '{}', 1);"
        "INSERT INTO runs (exp_id, cycle, state, position) VALUES ('e1', 0, 'running', 0);"
    )
    db.commit()
    db.close()
    with Manifest.open_readonly(tmp_path) as old:
        assert old.runs()[0].job_id is None  # read as it is, untouched
    with Manifest.open(tmp_path) as manifest:
        manifest.record_job("e1", 0, "42")
        assert manifest.runs()[0].job_id == "42"
