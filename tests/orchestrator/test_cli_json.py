"""``--json`` for scripts: stdout is exactly one JSON document (progress on stderr), with the
shape docs/api.md documents, on plan, run, status, report and compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from orchestrator import cli
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


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def document(result: Result, command: str) -> dict[str, Any]:
    """The one JSON document on stdout (json.loads fails on anything before or after it)."""
    parsed = json.loads(result.stdout)
    assert parsed["command"] == command and parsed["schema_version"] == 1
    return parsed


def test_plan_json_lists_every_experiment_rejection_and_run(campaign_file: Path) -> None:
    result = invoke("plan", str(campaign_file), "--json", "--runs", "1")
    assert result.exit_code == 0, result.output
    plan = document(result, "plan")
    assert plan["counts"] == {"experiments": 2, "runs": 4, "rejected": 1}
    assert [e["config"]["params"]["batch_size"] for e in plan["experiments"]] == [1, 2]
    assert plan["rejected"][0]["backend"] == "vllm" and "batch_size" in plan["rejected"][0]["reason"]
    assert len(plan["runs"]) == 4  # every run, whatever --runs lists in the text
    assert {(r["exp_id"], r["cycle"]) for r in plan["runs"]} == {
        (e["exp_id"], c) for e in plan["experiments"] for c in (0, 1)
    }
    assert plan["carryover"]["fixed"] == [] and plan["order_mode"] == "balanced"


def test_run_json_is_one_summary_on_stdout_with_progress_on_stderr(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    result = invoke("run", str(campaign_file), "--results-dir", str(tmp_path / "results"), "--json")
    assert result.exit_code == 0, result.output
    summary = document(result, "run")
    assert summary["exit_code"] == 0 and summary["counts"]["done"] == 4
    assert summary["this_run"] == {
        "done": 4,
        "failed": 0,
        "already_done": 0,
        "breaker_tripped": False,
        "failures": [],
    }
    assert len(summary["experiments"]) == 2
    assert all(e["energy_per_output_token_j_n"] == 2 for e in summary["experiments"])
    assert "4 done, 0 failed, 0 pending" in result.stderr  # the progress went to stderr


def test_run_json_of_a_failing_campaign_still_prints_its_document(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = FakeExecutor([crash, succeed])
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    result = invoke("run", str(campaign_file), "--results-dir", str(tmp_path / "results"), "--json")
    assert result.exit_code == 1
    summary = document(result, "run")
    assert summary["exit_code"] == 1 and summary["this_run"]["failed"] == 1
    assert summary["counts"] == {**summary["counts"], "done": 3, "failed": 1}
    assert "exited with code 3" in summary["this_run"]["failures"][0]


def test_status_json(campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    results = tmp_path / "results"
    invoke("run", str(campaign_file), "--results-dir", str(results))
    status = document(invoke("status", str(results / "t"), "--json"), "status")
    assert status["counts"]["done"] == 4 and {r["state"] for r in status["runs"]} == {"done"}
    assert {"exp_id", "cycle", "label", "attempts", "error"} <= set(status["runs"][0])


def test_plan_json_with_overrides_plans_the_overridden_campaign_and_names_them(campaign_file: Path) -> None:
    result = invoke(
        "plan", str(campaign_file), "-s", "cycles=3", "-s", "backends.stub.grid.batch_size=[4]", "--json"
    )
    assert result.exit_code == 0, result.output
    plan = document(result, "plan")
    assert plan["cycles"] == 3 and plan["counts"] == {"experiments": 1, "runs": 3, "rejected": 1}
    assert plan["experiments"][0]["config"]["params"]["batch_size"] == 4
    assert plan["overrides"] == ["cycles=3", "backends.stub.grid.batch_size=[4]"]


def test_plan_resolved_json_is_the_resolved_campaign_as_one_document(campaign_file: Path) -> None:
    result = invoke("plan", str(campaign_file), "-s", "cycles=3", "--resolved", "--json")
    assert result.exit_code == 0, result.output
    plan = document(result, "plan")
    assert plan["overrides"] == ["cycles=3"] and plan["resolved"]["cycles"] == 3
    assert plan["resolved"]["backends"]["stub"]["grid"] == {"batch_size": [1, 2]}
    assert "work_ms_per_token" in plan["resolved"]["backends"]["stub"]["params"]  # defaults filled in


def test_a_bad_override_with_json_prints_nothing_on_stdout(campaign_file: Path) -> None:
    result = invoke("plan", str(campaign_file), "-s", "cycels=3", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert "-s cycels=3" in result.stderr and "did you mean 'cycles'" in result.stderr


def test_status_json_streams_every_run_as_one_compact_line(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written a batch of rows at a time (here 3, over 4 runs), one line: the same document
    as the whole thing encoded at once."""
    from orchestrator import json_output
    from orchestrator.manifest import Manifest

    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    monkeypatch.setattr(json_output, "ROWS_PER_WRITE", 3)
    results = tmp_path / "results"
    invoke("run", str(campaign_file), "--results-dir", str(results))
    with Manifest.open(results / "t") as manifest:  # a hostile error text, kept verbatim
        first = manifest.runs()[0]
        manifest.mark_finished(first.exp_id, first.cycle, "failed", error='a "quoted"\nerror, é ✓')
        runs = manifest.run_dicts()
        assert runs == [r.as_dict() for r in manifest.runs()]
    result = invoke("status", str(results / "t"), "--json")
    assert result.stdout.count("\n") == 1 and result.stdout.endswith("}\n")
    status = document(result, "status")
    assert status["runs"] == runs and status["runs"][0]["error"] == 'a "quoted"\nerror, é ✓'
    assert list(status) == ["command", "schema_version", "campaign_dir", "camp_run", "counts", "runs"]


def test_a_document_with_no_rows_streams_an_empty_array(capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.json_output import emit_with_rows

    emit_with_rows("status", {"counts": {}}, "runs", iter(()))
    assert json.loads(capsys.readouterr().out) == {
        "command": "status",
        "schema_version": 1,
        "counts": {},
        "runs": [],
    }
