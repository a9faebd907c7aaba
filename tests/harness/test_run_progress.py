"""The harness says which phase its run is in (``progress.json``), for the host's live view."""

from __future__ import annotations

from pathlib import Path

import pytest

from camp_contract import progress
from camp_contract.layout import RunFiles
from harness import run as harness_run
from harness.run import run_experiment
from tests.harness.test_harness_run import make_spec, write_spec


def test_a_run_goes_through_its_phases_in_order_and_leaves_the_last_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec()
    path = write_spec(tmp_path, spec)
    seen: list[str] = []
    write = progress.write_progress

    def recording(file: Path, phase: str) -> bool:
        seen.append(phase)
        return write(file, phase)

    monkeypatch.setattr(harness_run.progress, "write_progress", recording)
    run_experiment(spec, path.parent, results_root=tmp_path)
    assert seen == list(progress.PHASES)  # every phase, once, in the contract's order
    left = progress.read_progress(RunFiles(path.parent).progress)
    assert left is not None and left.phase == progress.PHASE_FINISHING


def test_a_run_whose_progress_cannot_be_written_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec()
    path = write_spec(tmp_path, spec)
    RunFiles(path.parent).progress.mkdir()  # a directory where the file goes: every write fails
    result = run_experiment(spec, path.parent, results_root=tmp_path)
    assert result.metrics.n_requests == 6
