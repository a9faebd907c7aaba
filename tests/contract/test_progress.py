"""progress.json, the contract's phase record: written atomically, read leniently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from camp_contract import layout, progress
from camp_contract.atomic import atomic_write_text
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


def test_a_phase_is_published_whole_but_not_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run rewrites it at each of its phases: 16 fsyncs a run for a hint a crash makes moot.
    Results stay durable (one fsync of the file, one of its directory)."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    path = tmp_path / layout.PROGRESS_FILENAME
    assert progress.write_progress(path, progress.PHASE_LOAD, clock=lambda: 1.0)
    assert synced == []
    assert progress.read_progress(path) == progress.RunProgress(phase="load", since=1.0)
    assert [p.name for p in tmp_path.iterdir()] == [layout.PROGRESS_FILENAME]  # no temp file left
    atomic_write_text(tmp_path / layout.RESULT_FILENAME, "{}")
    assert len(synced) == 2
