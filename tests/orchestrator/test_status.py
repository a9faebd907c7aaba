"""`camp status` as a user reads it: a run whose `camp run` died shows as died (the lock says
whether anyone holds the campaign, looked at without taking it), pending runs as a count per
cycle, and the campaign named by its directory, its file or its name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lock import campaign_lock, lock_holder
from orchestrator.manifest import Manifest
from tests.orchestrator.fakes import FakeExecutor, crash, succeed
from tests.orchestrator.test_cli import invoke

CAMPAIGN = """
name: big
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2, 3, 4, 5, 6]}}
cycles: 3
retries: 0
max_consecutive_failures: 1
"""


@pytest.fixture
def stopped_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """18 runs: one done, one failed (the breaker stops the rest), then one marked running as a
    `camp run` killed mid-run leaves it."""
    campaign = tmp_path / "big.yaml"
    campaign.write_text(CAMPAIGN)
    results = tmp_path / "results"
    result = invoke(
        "run",
        str(campaign),
        "--results-dir",
        str(results),
        executor=FakeExecutor([succeed, crash]),
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 1, result.output
    with Manifest.open(results / "big") as manifest:
        (first_pending, *_) = manifest.runs(states=("pending",))
        manifest.mark_running(first_pending.exp_id, first_pending.cycle)
    return results


def status(*args: str) -> str:
    result = invoke("status", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_whose_camp_run_died_shows_as_died_not_running(stopped_campaign: Path) -> None:
    out = status(str(stopped_campaign / "big"))
    lines = out.splitlines()
    assert lines[0] == f"{stopped_campaign / 'big'}: 1/18 done, 15 pending, 1 died, 1 failed"
    (died,) = [line for line in lines if line.strip().startswith("died")]
    assert "its `camp run` stopped while it ran; `camp run` again retries it" in died
    assert "is running it now" not in out and "running " not in out


def test_a_run_whose_camp_run_lives_shows_as_running(stopped_campaign: Path) -> None:
    with campaign_lock(stopped_campaign / "big"):  # this process is the `camp run` now
        out = status(str(stopped_campaign / "big"))
    assert "1 running" in out.splitlines()[0]
    assert any(line.strip().startswith("running ") for line in out.splitlines())
    assert "died" not in out


def test_pending_runs_are_one_count_per_cycle_not_a_line_each(stopped_campaign: Path) -> None:
    out = status(str(stopped_campaign / "big"))
    (pending,) = [line for line in out.splitlines() if line.strip().startswith("pending")]
    assert pending.split(None, 1)[1].startswith("15 runs (c0: 3, c1: 6, c2: 6)")
    assert len(out.splitlines()) == 4  # counts, the died run, the failed run, pending


def test_the_campaign_can_be_named_by_directory_file_or_name(stopped_campaign: Path, tmp_path: Path) -> None:
    by_dir = status(str(stopped_campaign / "big"))
    by_file = status(str(tmp_path / "big.yaml"), "--results-dir", str(stopped_campaign))
    by_name = status("big", "--results-dir", str(stopped_campaign))
    assert by_dir == by_file == by_name
    unknown = invoke("status", "bgi", "--results-dir", str(stopped_campaign))
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    assert "'bgi' is no results directory, campaign file or campaign under" in unknown.output
    assert "(campaigns there: big); did you mean 'big'?" in unknown.output


def test_the_lock_is_looked_at_without_taking_it(tmp_path: Path) -> None:
    assert lock_holder(tmp_path) is None  # never run
    with campaign_lock(tmp_path):
        import os

        assert lock_holder(tmp_path) == os.getpid()
        # a `camp run` starting while someone looks is not refused: the look took nothing
        with pytest.raises(Exception, match="in use by another `camp run`"), campaign_lock(tmp_path):
            pass
    assert lock_holder(tmp_path) is None
    with campaign_lock(tmp_path):  # free again: nothing was left held
        pass


def test_without_the_kernels_lock_table_the_holders_pid_is_checked(tmp_path: Path) -> None:
    with campaign_lock(tmp_path):
        import os

        assert lock_holder(tmp_path, proc_locks=tmp_path / "no-such-table") == os.getpid()
    (tmp_path / ".camp-run.lock").write_text("999999999")  # a pid no process has
    assert lock_holder(tmp_path, proc_locks=tmp_path / "no-such-table") is None


def _status_json(*args: str) -> dict[str, Any]:
    result = invoke("status", *args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_status_json_says_died_as_the_text_does(stopped_campaign: Path) -> None:
    document = _status_json(str(stopped_campaign / "big"))
    assert document["camp_run"] == {"held": False, "pid": None}
    assert document["counts"] == {
        "pending": 15,
        "running": 0,
        "died": 1,
        "done": 1,
        "failed": 1,
        "interrupted": 0,
    }
    assert [r["state"] for r in document["runs"]].count("died") == 1
    with campaign_lock(stopped_campaign / "big"):  # a live `camp run`: its run is running
        held = _status_json(str(stopped_campaign / "big"))
    assert held["camp_run"]["held"] and held["counts"]["running"] == 1 and held["counts"]["died"] == 0


def test_status_json_by_directory_file_or_name_is_one_document(
    stopped_campaign: Path, tmp_path: Path
) -> None:
    by_dir = _status_json(str(stopped_campaign / "big"))
    by_file = _status_json(str(tmp_path / "big.yaml"), "--results-dir", str(stopped_campaign))
    by_name = _status_json("big", "--results-dir", str(stopped_campaign))
    assert by_dir == by_file == by_name and by_dir["campaign_dir"] == str(stopped_campaign / "big")
    unknown = invoke("status", "bgi", "--json", "--results-dir", str(stopped_campaign))
    assert unknown.exit_code == 2 and unknown.stdout == "" and "did you mean 'big'?" in unknown.stderr
