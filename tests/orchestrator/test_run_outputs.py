"""How `camp run` ends, as a user sees it: Ctrl-C says which runs it stopped (or that none was in
flight), and the aggregates and the HTML report are refreshed together however the run ends."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pandas as pd
import pytest

from camp_contract import layout
from camp_contract.models import RunSpec
from orchestrator.executors import ExecOutcome, RunRequest
from orchestrator.manifest import Manifest
from tests.orchestrator.fakes import FakeExecutor, succeed
from tests.orchestrator.test_cli import invoke

CAMPAIGN = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
cycles: 2
retries: 0
"""


def write_campaign(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN + extra)
    return path


def camp_run(campaign: Path, results: Path, executor: FakeExecutor, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return invoke(
        "run", str(campaign), "--results-dir", str(results), executor=executor, monkeypatch=monkeypatch
    )


def last_manifest_write(campaign_dir: Path) -> float:
    """The database and its write-ahead log (the -shm index is touched by readers too)."""
    path = layout.manifest_path(campaign_dir)
    files = [path, path.with_name(f"{path.name}-wal")]
    return max(p.stat().st_mtime_ns for p in files if p.exists())


def outputs(campaign_dir: Path) -> list[Path]:
    return sorted(
        p
        for d in (layout.aggregate_dir(campaign_dir), layout.report_dir(campaign_dir))
        for p in d.rglob("*")
        if p.is_file()
    )


def assert_all_fresh(campaign_dir: Path) -> None:
    files = outputs(campaign_dir)
    names = {p.name for p in files}
    assert {"index.html", "runs.parquet", "experiments.csv", "request_latency.parquet"} <= names
    manifest = last_manifest_write(campaign_dir)
    stale = [p.name for p in files if p.stat().st_mtime_ns < manifest]
    assert not stale, f"older than the manifest: {stale}"


def test_after_a_run_every_table_and_the_report_are_newer_than_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, results = write_campaign(tmp_path), tmp_path / "r"
    campaign_dir = results / "t"
    stopped = FakeExecutor()
    stopped.behaviours = [succeed, succeed, stopped.ctrl_c]
    first = camp_run(campaign, results, stopped, monkeypatch)
    assert first.exit_code == 130, first.output
    assert_all_fresh(campaign_dir)  # interrupted: the outputs as far as it got
    # an earlier `camp report --by`: one table whose field still exists, one whose field is gone
    out = layout.aggregate_dir(campaign_dir)
    pd.DataFrame({"stale": [1]}).to_parquet(out / "by_params.batch_size.parquet")
    pd.DataFrame({"stale": [1]}).to_csv(out / "by_params.batch_size.csv")
    pd.DataFrame({"stale": [1]}).to_parquet(out / "by_params.gone.parquet")
    second = camp_run(campaign, results, FakeExecutor(), monkeypatch)
    assert second.exit_code == 0, second.output
    assert f"report: {layout.report_dir(campaign_dir) / 'index.html'}" in second.output
    assert_all_fresh(campaign_dir)
    assert not (out / "by_params.gone.parquet").exists()
    by_batch = pd.read_parquet(out / "by_params.batch_size.parquet")
    assert list(by_batch["params.batch_size"]) == [1, 2] and "stale" not in by_batch.columns
    assert "stale" not in pd.read_csv(out / "by_params.batch_size.csv").columns
    with Manifest.open_readonly(campaign_dir) as manifest:
        assert manifest.counts()["done"] == 4


def test_a_failed_campaign_refreshes_its_outputs_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.orchestrator.fakes import crash

    campaign, results = write_campaign(tmp_path), tmp_path / "r"
    result = camp_run(campaign, results, FakeExecutor([succeed, crash]), monkeypatch)
    assert result.exit_code == 1
    assert_all_fresh(results / "t")


def test_ctrl_c_in_a_gap_says_no_run_was_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run ends at once; Ctrl-C arrives a second later, in the 60 s gap before the next."""
    campaign, results = write_campaign(tmp_path, "gaps: {between_runs_s: 60}\n"), tmp_path / "r"

    def succeed_then_ctrl_c_soon(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        return succeed(request, spec)

    executor = FakeExecutor([succeed_then_ctrl_c_soon, succeed])
    result = camp_run(campaign, results, executor, monkeypatch)
    assert result.exit_code == 130, result.output
    assert "interrupted by Ctrl-C: no run was in flight" in result.output
    assert len(executor.requests) == 1 and not executor.stopped
    with Manifest.open_readonly(results / "t") as manifest:
        assert manifest.counts()["interrupted"] == 0 and manifest.counts()["done"] == 1


def test_ctrl_c_during_a_run_names_the_run_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, results = write_campaign(tmp_path), tmp_path / "r"
    executor = FakeExecutor()
    executor.behaviours = [succeed, executor.ctrl_c]
    result = camp_run(campaign, results, executor, monkeypatch)
    assert result.exit_code == 130
    assert (
        "interrupted by Ctrl-C: 1 run(s) in flight marked interrupted ([2/4] stub m batch_size="
        in result.output
    )
