"""``-s KEY=VALUE`` overrides on ``camp run`` and ``camp plan``, and ``camp plan --resolved``, as a
user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator import cli
from tests.orchestrator.fakes import FakeExecutor

CAMPAIGN = """\
name: t
models: [m]
backends:
  stub:
    grid: {batch_size: [1, 2]}
grid:
  workload.max_output_tokens: [16]
cycles: 2
retries: 0
"""


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN)
    return path


def camp(*args: str, monkeypatch: pytest.MonkeyPatch | None = None) -> Result:
    if monkeypatch is not None:
        monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    return CliRunner().invoke(cli.main, list(args))


def exp_ids(plan_output: str) -> list[str]:
    return re.findall(r"^  ([0-9a-f]{12})  ", plan_output, flags=re.MULTILINE)


def test_run_takes_overrides_typed_by_the_schema_and_records_them(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    overrides = ["-s", "cycles=1", "-s", "backends.stub.grid.batch_size=[1,8,32]"]
    result = camp(
        "run", str(campaign_file), "--results-dir", str(results), *overrides, monkeypatch=monkeypatch
    )
    assert result.exit_code == 0, result.output
    assert "3 done, 0 failed, 0 pending" in result.output
    snapshot = json.loads((results / "t" / "campaign.json").read_text())
    assert snapshot["cycles"] == 1
    assert snapshot["backends"]["stub"]["grid"]["batch_size"] == [1, 8, 32]
    assert snapshot["overrides"] == ["cycles=1", "backends.stub.grid.batch_size=[1,8,32]"]
    assert campaign_file.read_text() == CAMPAIGN  # the file is never edited


def test_a_dotted_grid_key_is_found_whole(campaign_file: Path) -> None:
    result = camp("plan", str(campaign_file), "-s", "grid.workload.max_output_tokens=[8, 64]")
    assert result.exit_code == 0, result.output
    assert "4 experiments × 2 cycles" in result.output and "max_output_tokens=64" in result.output


def test_override_errors_name_the_option_and_the_field_with_a_did_you_mean(
    campaign_file: Path, tmp_path: Path
) -> None:
    result = camp(
        "run",
        str(campaign_file),
        "--results-dir",
        str(tmp_path / "results"),
        "-s",
        "cycels=3",
        "-s",
        "backends.stub.grid.batch_sise=[1,8]",
        "-s",
        "grid.workload.max_output_tokenz=[8]",
        "-s",
        "order.mode=balancd",
        "-s",
        "retries=-1",
        "-s",
        "timeout_s=[",
        "-s",
        "seed",
        "-s",
        "models.first=x",
    )
    assert result.exit_code == 2, result.output
    out = result.output
    assert f"{campaign_file}: 8 problems in the campaign file and its -s overrides:" in out
    assert "  -s cycels=3: cycels: unknown field 'cycels' — did you mean 'cycles'?" in out
    assert (
        "  -s backends.stub.grid.batch_sise=[1,8]: backends.stub.grid.batch_sise: unknown stub parameter "
        "'batch_sise' — did you mean 'batch_size'?" in out
    )
    assert "did you mean 'workload.max_output_tokens'?" in out
    assert (
        "  -s order.mode=balancd: order.mode: 'balancd' is not one of balanced, interleaved, shuffled, "
        "grouped — did you mean 'balanced'?" in out
    )
    assert "  -s retries=-1: retries: Input should be greater than or equal to 0" in out
    assert "  -s timeout_s=[: timeout_s: the value is not YAML" in out
    assert "  -s seed: seed: give a dotted field and a value, KEY=VALUE — e.g. -s cycles=3" in out
    assert "  -s models.first=x: models: cannot set models.first: models is ['m'], not a mapping" in out
    assert "Traceback" not in out and not (tmp_path / "results").exists()


def test_a_field_set_twice_is_an_error_naming_both(campaign_file: Path) -> None:
    result = camp("plan", str(campaign_file), "-s", "cycles=3", "-s", "cycles=4")
    assert result.exit_code == 2
    assert (
        "-s cycles=4: cycles: is set twice (-s cycles=3 and -s cycles=4) — keep one of them" in result.output
    )


def test_plan_resolved_prints_a_campaign_that_expands_to_the_same_experiments(
    campaign_file: Path, tmp_path: Path
) -> None:
    overrides = ["-s", "cycles=5", "-s", "backends.stub.params.work_ms_per_token=1.5"]
    resolved = camp("plan", str(campaign_file), *overrides, "--resolved")
    assert resolved.exit_code == 0, resolved.output
    text = resolved.output
    assert text.startswith(
        f"# {campaign_file} -s cycles=5 -s backends.stub.params.work_ms_per_token=1.5, resolved"
    )
    assert "cycles: 5\n" in text and "work_ms_per_token: 1.5" in text
    assert "fault: none" in text and "timeout_s: 900.0" in text  # defaults filled in
    assert "max_consecutive_failures: 5" in text and "sample_hz: 10.0" in text
    again = tmp_path / "resolved.yaml"
    again.write_text(text)
    from_resolved = camp("plan", str(again))
    from_overrides = camp("plan", str(campaign_file), *overrides)
    assert from_resolved.exit_code == 0, from_resolved.output
    assert exp_ids(from_resolved.output) == exp_ids(from_overrides.output) != []
    assert "2 experiments × 5 cycles" in from_resolved.output
