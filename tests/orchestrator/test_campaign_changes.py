"""Before a changed campaign drops done runs from the aggregates, ``camp run`` says which fields
changed for which experiments and asks (or needs ``--yes`` when not interactive)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator import cli, cli_common
from tests.orchestrator.fakes import FakeExecutor

CAMPAIGN = """\
name: t
models: [m]
backends:
  stub:
    grid: {batch_size: [1, 2]}
    params: {work_ms_per_token: 0.5}
cycles: 2
retries: 0
"""


@pytest.fixture
def done_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A campaign file whose 4 runs are done."""
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN)
    first = run(path)
    assert first.exit_code == 0 and "4 done" in first.output, first.output
    return path


def run(path: Path, *args: str, stdin: str | None = None) -> Result:
    results = path.parent / "results"
    return CliRunner().invoke(cli.main, ["run", str(path), "--results-dir", str(results), *args], input=stdin)


def test_not_interactive_a_change_that_drops_done_runs_needs_yes(done_campaign: Path) -> None:
    result = run(done_campaign, "-s", "backends.stub.params.work_ms_per_token=0.7")
    assert result.exit_code == 2, result.output
    assert "the campaign changed: 4 done runs would leave the aggregates (their results stay on disk):" in (
        result.output
    )
    assert "  params.work_ms_per_token: 0.5 → 0.7 — 2 experiments (" in result.output
    assert result.output.strip().endswith(
        "error: the campaign changed (see above); pass --yes to run it anyway"
    )
    assert "runs to do" not in result.output  # nothing ran
    with_yes = run(done_campaign, "-s", "backends.stub.params.work_ms_per_token=0.7", "--yes")
    assert with_yes.exit_code == 0, with_yes.output
    assert "4 done, 0 failed" in with_yes.output


def test_each_changed_field_and_fewer_cycles_are_listed(done_campaign: Path) -> None:
    result = run(done_campaign, "-s", "backends.stub.grid.batch_size=[1, 4]", "-s", "cycles=1")
    assert result.exit_code == 2, result.output
    assert "the campaign changed: 3 done runs would leave the aggregates" in result.output
    assert "  params.batch_size: 2 → 1 — 1 experiment (" in result.output
    assert "  cycles: 2 → 1 (cycle c1 no longer run) — 1 done run" in result.output


def test_at_a_terminal_it_asks_and_a_no_runs_nothing(
    done_campaign: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "stdin_is_interactive", lambda: True)
    declined = run(done_campaign, "-s", "models=[m2]", stdin="n\n")
    assert declined.exit_code == 2, declined.output
    assert "  model: m → m2 — 2 experiments" in declined.output
    assert "Run the changed campaign? [y/N]" in declined.output
    assert "nothing run: the campaign's results are as they were" in declined.output
    accepted = run(done_campaign, "-s", "models=[m2]", stdin="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "4 done, 0 failed" in accepted.output


def test_an_unchanged_or_additive_campaign_asks_nothing(done_campaign: Path) -> None:
    unchanged = run(done_campaign)
    assert unchanged.exit_code == 0 and "nothing to do" in unchanged.output
    added = run(done_campaign, "-s", "backends.stub.grid.batch_size=[1, 2, 4]", "-s", "cycles=3")
    assert added.exit_code == 0, added.output
    assert "would leave the aggregates" not in added.output and "9 done" in added.output
