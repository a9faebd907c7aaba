"""The slurm executor against a real Slurm (scripts/provision-slurm.sh makes a one-node one):
runs in flight at once, a job that times out, a job cancelled from outside, `kill -9` of `camp
run` with jobs in flight and re-attachment to them, and resume with nothing run twice.

Runs go through the site runtime `process` (the harness under this Python on the node), which
is quick; `make slurm-smoke` runs the smoke campaign through Slurm + Docker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.manifest import Manifest, ManifestDamaged
from tests.integration.conftest import REPO, camp
from tests.integration.test_crash_resume import done_events

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SITE = """
partition: camp
request_gpus: false
exclusive: false
runtime: process
mem: 500M
poll_s: 0.5
"""


def write_campaign(
    tmp_path: Path, *, work_ms: float, cycles: int, timeout_s: float = 120, retries: int = 0
) -> Path:
    name = f"slurm-{uuid.uuid4().hex[:8]}"
    text = (
        (REPO / "campaigns" / "smoke.yaml")
        .read_text()
        .replace("name: smoke", f"name: {name}")
        .replace("work_ms_per_token: 3", f"work_ms_per_token: {work_ms}")
        .replace("cycles: 3", f"cycles: {cycles}")
        .replace("timeout_s: 120", f"timeout_s: {timeout_s}")
        .replace("retries: 1", f"retries: {retries}")
    )
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    (tmp_path / "site.yaml").write_text(SITE)
    return path


def run_args(campaign: Path, results: Path) -> list[str]:
    site = campaign.parent / "site.yaml"
    return ["run", str(campaign), "--results-dir", str(results), "--executor", "slurm", "--site", str(site)]


def start_camp(campaign: Path, results: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *run_args(campaign, results)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def job_ids(campaign_dir: Path) -> dict[tuple[str, int], str]:
    try:  # polled while `camp run` may still be creating it (an empty file reads as damaged)
        with Manifest.open_readonly(campaign_dir) as manifest:
            return {(r.exp_id, r.cycle): r.job_id for r in manifest.runs() if r.job_id}
    except (FileNotFoundError, ManifestDamaged):
        return {}


def running_jobs(ids: set[str]) -> set[str]:
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True).stdout
    return ids & set(out.split())


def job_span(job_id: str) -> tuple[datetime, datetime]:
    """When Slurm started and ended the job (slurmctld keeps finished jobs for MinJobAge)."""
    text = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    fields = dict(token.split("=", 1) for token in text.split() if "=" in token)
    return datetime.fromisoformat(fields["StartTime"]), datetime.fromisoformat(fields["EndTime"])


def submitted_jobs(results: Path, campaign: str) -> int:
    return len(list((results / ".slurm" / campaign).glob("*_submitted.pkl")))


def wait_for(condition, timeout: float = 90, every: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_runs_in_flight_at_once_then_resume_runs_nothing_twice(tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path, work_ms=10, cycles=1)  # 4 runs of a few seconds
    results = tmp_path / "results"
    name = campaign.read_text().split("name: ", 1)[1].split()[0]
    first = camp(*run_args(campaign, results))
    assert first.returncode == 0, first.stdout + first.stderr
    spans = [job_span(job) for job in job_ids(results / name).values()]
    most_at_once = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
    assert most_at_once >= 2, f"the runs went one at a time: {spans}"
    again = camp(*run_args(campaign, results))
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    assert set(done_events(results / name).values()) == {1}
    assert submitted_jobs(results, name) == 4


def test_a_job_that_times_out_is_recorded_and_the_campaign_goes_on(tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path, work_ms=1000, cycles=1, timeout_s=4)
    results = tmp_path / "results"
    done = camp(*run_args(campaign, results))
    assert done.returncode == 1, done.stdout + done.stderr
    name = campaign.read_text().split("name: ", 1)[1].split()[0]
    with Manifest.open_readonly(results / name) as manifest:
        runs = manifest.runs()
    assert {r.state for r in runs} == {"failed"} and len(runs) == 4  # every run tried: it went on
    assert all("timed out after 4s" in (r.error or "") for r in runs)
    assert all(r.job_id for r in runs)


def test_a_job_cancelled_from_outside_fails_with_its_slurm_state(tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path, work_ms=30, cycles=1)
    results = tmp_path / "results"
    name = campaign.read_text().split("name: ", 1)[1].split()[0]
    process = start_camp(campaign, results)
    victim_run, victim = next(iter(wait_for(lambda: job_ids(results / name)).items()))
    wait_for(lambda: running_jobs({victim}))
    subprocess.run(["scancel", victim], check=True)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output
    with Manifest.open_readonly(results / name) as manifest:
        rows = {(r.exp_id, r.cycle): r for r in manifest.runs()}
    assert rows[victim_run].state == "failed"
    assert f"Slurm job {victim} ended CANCELLED" in (rows[victim_run].error or "")
    assert sum(r.state == "done" for r in rows.values()) == 3  # the others went on


def test_kill_9_with_jobs_in_flight_reattaches_instead_of_resubmitting(tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path, work_ms=30, cycles=1)
    results = tmp_path / "results"
    name = campaign.read_text().split("name: ", 1)[1].split()[0]
    process = start_camp(campaign, results)
    in_flight = wait_for(
        lambda: (ids := job_ids(results / name)) and len(running_jobs(set(ids.values()))) >= 2 and ids
    )
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = job_ids(results / name)
    assert running_jobs(set(left.values())), "the jobs outlive camp"
    status = camp("status", str(results / name))
    assert any(job in status.stdout for job in left.values()), status.stdout
    final = camp(*run_args(campaign, results))
    assert final.returncode == 0, final.stdout + final.stderr
    after = job_ids(results / name)
    assert all(after[run] == job for run, job in in_flight.items()), "a job was submitted again"
    assert set(done_events(results / name).values()) == {1}
    assert submitted_jobs(results, name) == 4


def job_state_of(job_id: str) -> str:
    text = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    return dict(token.split("=", 1) for token in text.split() if "=" in token).get("JobState", "")


def test_ctrl_c_cancels_the_campaigns_jobs_and_marks_them_interrupted(tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path, work_ms=30, cycles=1)
    results = tmp_path / "results"
    name = campaign.read_text().split("name: ", 1)[1].split()[0]
    process = start_camp(campaign, results)
    in_flight = wait_for(lambda: (ids := job_ids(results / name)) and running_jobs(set(ids.values())) and ids)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    for job in in_flight.values():
        assert wait_for(lambda job=job: job_state_of(job) == "CANCELLED", timeout=30)
    with Manifest.open_readonly(results / name) as manifest:
        rows = {(r.exp_id, r.cycle): r for r in manifest.runs()}
    assert all(rows[run].state == "interrupted" for run in in_flight), {r: rows[r].state for r in in_flight}
    assert not running_jobs(set(job_ids(results / name).values()))  # nothing of ours left running
