"""The whole path for real: `camp run` → `docker compose run --rm stub camp-harness run …` per run
→ result.json in the mounted results volume → validated → summary; then resume."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from camp_contract import layout
from camp_contract.models import RunResult
from orchestrator.campaign import load_campaign
from tests.integration.conftest import camp, camp_containers, status

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_smoke_campaign_runs_in_containers_and_resumes_with_nothing_to_do(
    smoke_campaign: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    name = load_campaign(smoke_campaign).name
    secret = "hf_integration_secret_value"
    first = camp(
        "run",
        str(smoke_campaign),
        "--results-dir",
        str(results),
        "--executor",
        "docker",
        env={"HF_TOKEN": secret},
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "with executor 'docker'" in first.stdout
    # every cycle ran on this machine: its name, not each container's own, is what the runs record
    assert "ran on 3 nodes" not in first.stdout and "ran on 2 nodes" not in first.stdout, first.stdout
    stub_id = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", "camp-stub:latest"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    state = status(results / name)
    assert state["counts"]["done"] == 12 and sum(state["counts"].values()) == 12
    for run in state["runs"]:
        files = layout.run_files(results, name, run["exp_id"], run["cycle"])
        result = RunResult.model_validate_json(files.result.read_text())
        assert (result.exp_id, result.cycle) == (run["exp_id"], run["cycle"])
        assert result.metrics.energy_j > 0 and result.metrics.output_tokens > 0
        assert files.timeseries.stat().st_size > 0 and not files.error.exists()
        assert files.result.stat().st_uid == os.getuid()  # written as the invoking user
        assert result.provenance.image == "camp-stub" and result.provenance.image_id == stub_id
        assert result.provenance.source_revision != "unknown"  # provisioning baked it in
    assert camp_containers(name) == []  # --rm: nothing left behind
    for path in results.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".log", ".csv", ".html"):
            assert secret not in path.read_text(errors="replace"), path

    again = camp("run", str(smoke_campaign), "--results-dir", str(results), "--executor", "docker")
    assert again.returncode == 0, again.stderr
    assert "nothing to do: all 12 runs" in again.stdout


def test_two_gpus_run_two_containers_at_once(smoke_campaign: Path, tmp_path: Path) -> None:
    text = smoke_campaign.read_text().replace("cycles: 3", "cycles: 1") + "gpus: [0, 1]\n"
    smoke_campaign.write_text(text)
    results = tmp_path / "results"
    done = camp("run", str(smoke_campaign), "--results-dir", str(results), "--executor", "docker")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to 2 at a time on GPUs 0,1" in done.stdout
    name = load_campaign(smoke_campaign).name
    spans = sorted(
        (
            RunResult.model_validate_json(p.read_text()).started_at,
            RunResult.model_validate_json(p.read_text()).finished_at,
        )
        for p in (results / name).glob("*/c0/result.json")
    )
    assert len(spans) == 4
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
