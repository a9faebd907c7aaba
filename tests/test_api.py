"""``import camp``: the notebook API as a researcher calls it, on campaigns written with the
contract models (runs through a fake runtime; results laid out as the harness leaves them)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import camp
from camp_contract.layout import TIMESERIES_FILENAME
from orchestrator.config_errors import ConfigError
from tests.aggregate.helpers import write_experiment
from tests.orchestrator.fakes import FakeExecutor, crash, succeed

CAMPAIGN = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
  vllm: {}
grid: {batch_size: [1]}
cycles: 2
retries: 0
"""


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN)
    return path


def test_the_package_exports_the_functions_it_documents() -> None:
    assert callable(camp.load_campaign) and callable(camp.results) and callable(camp.run)
    assert set(camp.__all__) == {
        "CampaignPlan",
        "Results",
        "RunSummary",
        "load_campaign",
        "plan",
        "results",
        "run",
    }


def test_load_and_plan_without_writing(campaign_file: Path, tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    campaign = camp.load_campaign(str(campaign_file))
    plan = camp.plan(campaign)
    assert (len(plan.experiments), plan.n_runs, len(plan.rejected)) == (2, 4, 1)
    frame = plan.experiments_frame()
    assert list(frame["params.batch_size"]) == [1, 2] and frame["exp_id"].is_unique
    assert camp.plan(campaign_file).order == plan.order  # a path does as well
    assert sorted(tmp_path.rglob("*")) == before


def test_a_bad_campaign_raises_with_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nmodels: [m]\nbackends: {stub: {grid: {batchsize: [1]}}}\n")
    with pytest.raises(ConfigError) as raised:
        camp.load_campaign(bad)
    assert "bad.yaml" in str(raised.value) and "did you mean 'batch_size'" in str(raised.value)


def test_run_then_read_the_results(campaign_file: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    summary = camp.run(
        campaign_file, results_dir=tmp_path / "results", executor=FakeExecutor(), echo=lines.append
    )
    assert summary.ok and summary.done == 4 and summary.counts["done"] == 4
    assert any("4 runs to do" in line for line in lines)
    experiments = summary.results().experiments()
    assert len(experiments) == 2 and (experiments["energy_per_output_token_j_n"] == 2).all()
    same = camp.results(campaign_file, results_dir=tmp_path / "results")
    assert same.campaign_dir == summary.campaign_dir


def test_a_failed_run_is_in_the_summary(campaign_file: Path, tmp_path: Path) -> None:
    summary = camp.run(
        campaign_file,
        results_dir=tmp_path / "r",
        executor=FakeExecutor([crash, succeed]),
        echo=lambda _: None,
    )
    assert not summary.ok and summary.failed == 1 and summary.counts["failed"] == 1
    assert "exited with code 3" in summary.failures[0]


def _done_campaign(root: Path) -> Path:
    campaign = root / "demo"
    for exp_id, batch, energies in (
        ("3f2a9c1b0d4e", 8, [10.0, 11.0]),
        ("8e1d5566ccdd", 1, [14.0, 15.0, 14.5]),
    ):
        for run_dir in write_experiment(
            campaign, exp_id, energies, latencies=[0.1, 0.2, 0.3, 0.4], batch_size=batch
        ):
            cycle = int(run_dir.name.removeprefix("c"))
            trace = pd.DataFrame(
                {"t_s": [0.0, 0.1, 0.2], "power_w": [2.0, 30.0, 2.0], "phase": ["idle", "measured", "idle"]}
            )
            trace["power_w"] += cycle
            trace.to_parquet(run_dir / TIMESERIES_FILENAME)
    return campaign


def test_results_as_dataframes(tmp_path: Path) -> None:
    results = camp.results(_done_campaign(tmp_path))
    runs = results.runs()
    assert len(runs) == 5 and list(runs.columns[:2]) == ["exp_id", "cycle"]
    experiments = results.experiments().set_index("exp_id")
    assert experiments.loc["8e1d5566ccdd", "energy_per_output_token_j_n"] == 3
    low, high = experiments.loc[
        "8e1d5566ccdd", ["energy_per_output_token_j_low", "energy_per_output_token_j_high"]
    ]
    assert low < experiments.loc["8e1d5566ccdd", "energy_per_output_token_j_mean"] < high
    requests = results.requests()
    assert len(requests) == 5 * 4 and set(requests.columns) >= {"exp_id", "cycle", "latency_s"}
    assert results.warnings().empty
    assert not (tmp_path / "demo" / "aggregate").exists()  # reading writes nothing


def test_timeseries_of_all_runs_one_experiment_or_one_run(tmp_path: Path) -> None:
    results = camp.results(_done_campaign(tmp_path))
    everything = results.timeseries()
    assert len(everything) == 5 * 3 and list(everything.columns[:2]) == ["exp_id", "cycle"]
    one_experiment = results.timeseries("8e")  # a unique prefix
    assert set(one_experiment["exp_id"]) == {"8e1d5566ccdd"} and set(one_experiment["cycle"]) == {0, 1, 2}
    one_run = results.timeseries("batch_size=8", cycle=1)  # a label
    assert list(one_run["power_w"]) == [3.0, 31.0, 3.0]
    with pytest.raises(ValueError, match="3f2a9c1b0d4e"):
        results.timeseries("nope")


def test_results_of_a_campaign_never_run(campaign_file: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no results at"):
        camp.results(campaign_file, results_dir=tmp_path / "nowhere")


def test_overrides_as_on_the_command_line(campaign_file: Path, tmp_path: Path) -> None:
    campaign = camp.load_campaign(
        campaign_file, overrides=["cycles=3", "backends.stub.grid.batch_size=[1,8]"]
    )
    assert campaign.cycles == 3
    plan = camp.plan(campaign_file, overrides=["cycles=3", "backends.stub.grid.batch_size=[1,8]"])
    assert sorted(plan.experiments_frame()["params.batch_size"]) == [1, 8] and plan.n_runs == 6
    assert camp.plan(campaign).order == plan.order


def test_a_bad_override_names_its_option(campaign_file: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        camp.load_campaign(campaign_file, overrides=["cycels=3"])
    assert "-s cycels=3" in str(raised.value) and "did you mean 'cycles'" in str(raised.value)


def test_overrides_need_a_file_and_a_list(campaign_file: Path) -> None:
    with pytest.raises(TypeError, match="overrides=\\['cycles=3'\\]"):
        camp.load_campaign(campaign_file, overrides="cycles=3")
    with pytest.raises(TypeError, match="pass its path"):
        camp.plan(camp.load_campaign(campaign_file), overrides=["cycles=3"])


def test_run_with_overrides_records_them_and_refreshes_the_outputs(
    campaign_file: Path, tmp_path: Path
) -> None:
    results_dir = tmp_path / "results"
    summary = camp.run(
        campaign_file,
        results_dir=results_dir,
        executor=FakeExecutor(),
        echo=lambda _: None,
        overrides=["cycles=1", "name=t1"],
    )
    assert summary.ok and summary.counts["done"] == 2 and summary.campaign_dir == results_dir / "t1"
    snapshot = json.loads((summary.campaign_dir / "campaign.json").read_text())
    assert snapshot["overrides"] == ["cycles=1", "name=t1"] and snapshot["cycles"] == 1
    # as after `camp run`: the tables and the report are there, none older than the manifest
    manifest_time = (summary.campaign_dir / "manifest.sqlite").stat().st_mtime
    for written in ("aggregate/experiments.csv", "aggregate/runs.parquet", "report/index.html"):
        assert (summary.campaign_dir / written).stat().st_mtime >= manifest_time
    found = camp.results(campaign_file, results_dir=results_dir, overrides=["name=t1"])
    assert found.campaign_dir == summary.campaign_dir
