"""The results on disk are the ground truth the manifest indexes: a manifest deleted (before or
during a run), empty or garbage is named, kept aside and rebuilt from the valid results (adopted,
not run again); a run marked done whose result.json is gone or corrupt is redone, and said so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from camp_contract.layout import RESULT_FILENAME
from camp_contract.models import RunSpec
from orchestrator import cli
from orchestrator.executors import ExecOutcome, RunRequest
from orchestrator.manifest import Manifest
from tests.orchestrator.fakes import FakeExecutor, succeed

CAMPAIGN = "name: t\nmodels: [m]\nbackends:\n  stub: {grid: {batch_size: [1, 2]}}\ncycles: 2\nretries: 0\n"


def camp(monkeypatch: pytest.MonkeyPatch, executor: FakeExecutor | None, *args: str) -> Result:
    if executor is not None:
        monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    return CliRunner().invoke(cli.main, list(args))


@pytest.fixture
def finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A campaign file and its results directory with all 4 runs done."""
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN)
    results = tmp_path / "results"
    assert (
        camp(monkeypatch, FakeExecutor(), "run", str(campaign), "--results-dir", str(results)).exit_code == 0
    )
    return campaign, results


def counts(results: Path) -> dict[str, int]:
    with Manifest.open_readonly(results / "t") as manifest:
        return manifest.counts()


def test_a_deleted_manifest_is_rebuilt_from_the_results_on_disk_and_nothing_runs_again(
    finished: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, results = finished
    (results / "t" / "manifest.sqlite").unlink()
    executor = FakeExecutor()
    again = camp(monkeypatch, executor, "run", str(campaign), "--results-dir", str(results))
    assert again.exit_code == 0, again.output
    assert executor.requests == [] and "adopted 4 finished runs" in again.output
    assert counts(results)["done"] == 4


@pytest.mark.parametrize("damage", [b"", b"this is not sqlite at all\x00\xff" * 100])
def test_an_empty_or_garbage_manifest_is_named_kept_aside_and_rebuilt(
    finished: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    campaign, results = finished
    path = results / "t" / "manifest.sqlite"
    path.write_bytes(damage)
    for command in (["status", str(results / "t")], ["status", str(results / "t"), "--json"]):
        status = camp(monkeypatch, None, *command)
        assert status.exit_code == 1 and "Traceback" not in status.output and status.exception is not None
        assert f"the manifest {path} is damaged" in status.output
    report = camp(monkeypatch, None, "report", str(results / "t"))
    assert report.exit_code == 1 and "Traceback" not in report.output
    assert "is damaged" in report.output and "reporting every result.json on disk" in report.output
    assert "report:" in report.output  # the valid results were reported all the same
    executor = FakeExecutor()
    again = camp(monkeypatch, executor, "run", str(campaign), "--results-dir", str(results))
    assert again.exit_code == 0, again.output
    assert f"warning: the manifest {path} was damaged" in again.output and "kept aside as" in again.output
    (aside,) = [
        p for p in (results / "t").glob("manifest.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))
    ]
    assert aside.read_bytes() == damage
    assert executor.requests == [] and counts(results)["done"] == 4


def test_a_manifest_deleted_while_camp_runs_stops_it_clearly_and_the_next_run_adopts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN)
    results = tmp_path / "results"

    def delete_the_manifest(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        (results / "t" / "manifest.sqlite").unlink()
        return succeed(request, spec)

    first = camp(
        monkeypatch,
        FakeExecutor([succeed, delete_the_manifest]),
        "run",
        str(campaign),
        "--results-dir",
        str(results),
    )
    assert first.exit_code == 1 and "Traceback" not in first.output, first.output
    assert "was deleted or replaced while camp ran" in first.output
    executor = FakeExecutor()
    again = camp(monkeypatch, executor, "run", str(campaign), "--results-dir", str(results))
    assert again.exit_code == 0, again.output
    assert "adopted 2 finished runs" in again.output and len(executor.requests) == 2
    assert counts(results)["done"] == 4


@pytest.mark.parametrize("corrupt", ["delete", "garbage", "truncate"])
def test_a_done_run_whose_result_is_gone_or_corrupt_is_redone_and_said_so(
    finished: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, corrupt: str
) -> None:
    campaign, results = finished
    (result,) = sorted((results / "t").glob(f"*/c1/{RESULT_FILENAME}"))[:1]
    if corrupt == "delete":
        result.unlink()
    else:
        result.write_text("{not json" if corrupt == "garbage" else result.read_text()[:50])
    report = camp(monkeypatch, None, "report", str(results / "t"))
    assert report.exit_code == 1 and str(result) in report.output and "report:" in report.output
    executor = FakeExecutor()
    again = camp(monkeypatch, executor, "run", str(campaign), "--results-dir", str(results))
    assert again.exit_code == 0, again.output
    exp_id = result.parent.parent.name
    assert f"redoing {exp_id} c1: it was marked done but" in again.output
    assert [(r.exp_id, r.cycle) for r in executor.requests] == [(exp_id, 1)]
    assert camp(monkeypatch, None, "report", str(results / "t")).exit_code == 0
