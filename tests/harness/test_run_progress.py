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
    # every phase an offline run has, once, in the contract's order (drain is serving's)
    assert seen == [p for p in progress.PHASES if p != progress.PHASE_DRAIN]
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


def test_a_server_mode_run_says_its_phases_too_the_drain_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.serving import run_server
    from tests.serving.test_serving_run import server_spec

    seen: list[str] = []
    write = progress.write_progress

    def recording(file: Path, phase: str) -> bool:
        seen.append(phase)
        return write(file, phase)

    monkeypatch.setattr(run_server.progress, "write_progress", recording)
    run_experiment(server_spec(), tmp_path)
    # the server starts (load) before its idle baseline; the load generator's marks start
    # warmup, window and drain (each written from a thread, seconds apart)
    assert seen == [
        progress.PHASE_PREFLIGHT,
        progress.PHASE_MODEL_FILES,
        progress.PHASE_SETTLE,
        progress.PHASE_LOAD,
        progress.PHASE_BASELINE,
        progress.PHASE_WARMUP,
        progress.PHASE_WINDOW,
        progress.PHASE_DRAIN,
        progress.PHASE_FINISHING,
    ]
