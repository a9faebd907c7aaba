"""progress.json, the contract's phase record: written atomically, read leniently."""

from __future__ import annotations

from pathlib import Path

from camp_contract import layout, progress
from camp_contract.fingerprint import SHARED_NAMES


def test_written_then_read_back_with_its_time(tmp_path: Path) -> None:
    path = tmp_path / layout.PROGRESS_FILENAME
    assert progress.write_progress(path, progress.PHASE_WARMUP, clock=lambda: 1234.5)
    read = progress.read_progress(path)
    assert read is not None and read.phase == "warmup" and read.since == 1234.5
    assert read.describe() == "warmup"


def test_it_never_creates_the_run_directory(tmp_path: Path) -> None:
    assert not progress.write_progress(tmp_path / "run" / layout.PROGRESS_FILENAME, progress.PHASE_PREFLIGHT)
    assert list(tmp_path.iterdir()) == []


def test_missing_garbled_or_unknown_phase_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / layout.PROGRESS_FILENAME
    assert progress.read_progress(path) is None
    path.write_text("{not json")
    assert progress.read_progress(path) is None
    path.write_text('{"schema_version": 1, "phase": "dancing", "since": 1}')
    assert progress.read_progress(path) is None


def test_it_is_removed_before_each_attempt_and_is_part_of_the_contract() -> None:
    files = layout.RunFiles(Path("/r/c/e/c0"))
    assert files.progress in files.harness_outputs
    assert layout.PROGRESS_FILENAME in SHARED_NAMES
