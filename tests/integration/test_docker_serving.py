"""Server mode for real: `camp run campaigns/serving-smoke.yaml` → one `docker compose run --rm
stub` container per run, the stub's streaming server driven by an open-loop load → result.json
with serving metrics and requests.parquet → goodput under the SLO and the report's load sweep."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pandas as pd
import pytest

from camp_contract import layout
from camp_contract.models import RunResult
from orchestrator.campaign import load_campaign
from orchestrator.goodput import read_requests
from tests.integration.conftest import REPO, camp, camp_containers, status

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def serving_campaign(tmp_path: Path) -> Path:
    """The shipped serving smoke campaign under a name of this test's own."""
    name = f"it-serving-{uuid.uuid4().hex[:10]}"
    text = (
        (REPO / "campaigns" / "serving-smoke.yaml")
        .read_text()
        .replace("name: serving-smoke", f"name: {name}")
    )
    path = tmp_path / "serving-smoke.yaml"
    path.write_text(text)
    return path


def test_serving_smoke_runs_in_containers_and_reports_the_load_sweep(
    serving_campaign: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    campaign = load_campaign(serving_campaign)
    ran = camp("run", str(serving_campaign), "--results-dir", str(results), "--executor", "docker")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "serving (95% CI over cycles):" in ran.stdout
    state = status(results / campaign.name)
    assert state["counts"]["done"] == 8 and sum(state["counts"].values()) == 8
    rates = set()
    for run in state["runs"]:
        files = layout.run_files(results, campaign.name, run["exp_id"], run["cycle"])
        result = RunResult.model_validate_json(files.result.read_text())
        serving = result.serving
        assert serving is not None, files.result
        rates.add(serving.target_rate_rps)
        assert serving.requests_completed > 0 and serving.ttft.n > 0
        assert serving.energy_per_request_j > 0 and math.isfinite(serving.energy_per_output_token_j)
        requests = read_requests(files.requests)
        assert (requests["phase"] == "measured").sum() > 0
    assert rates == {2.0, 8.0, 32.0, math.inf}
    assert camp_containers(campaign.name) == []

    reported = camp("report", str(serving_campaign), "--results-dir", str(results))
    assert reported.returncode == 0, reported.stdout + reported.stderr
    report_dir = layout.report_dir(results / campaign.name)
    html = (report_dir / "index.html").read_text()
    assert "Serving: energy and latency against load" in html
    for png in ("serving_energy_per_request.png", "serving_ttft_p90.png", "serving_tpot_p90.png"):
        assert (report_dir / png).read_bytes().startswith(b"\x89PNG"), png
    experiments = pd.read_parquet(layout.aggregate_dir(results / campaign.name) / "experiments.parquet")
    assert experiments["goodput_rps_n"].tolist() == [2, 2, 2, 2]
    assert experiments["slo_met"].notna().all()
