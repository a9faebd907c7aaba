"""A disk that fills up mid-campaign: camp stops with a clear error, the manifest stays intact,
and once there is room again the campaign completes with every run done exactly once."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli
from orchestrator.manifest import Manifest
from tests.orchestrator.fakes import FakeExecutor, succeed

CAMPAIGN = "name: t\nmodels: [m]\nbackends:\n  stub: {grid: {batch_size: [1, 2, 3]}}\ncycles: 2\nretries: 0\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root, as in CI; CAMP_REQUIRE_DOCKER=1 makes its absence an error)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        message = f"cannot mount a small tmpfs: {done.stderr.decode().strip()}"
        if os.environ.get("CAMP_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    ballast = disk / "ballast"
    with open(ballast, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return ballast


def test_full_disk_stops_cleanly_and_resume_completes(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN)
    results = small_disk / "results"

    def fill_disk_then_succeed(request, spec):
        fill(small_disk)
        return succeed(request, spec)

    executor = FakeExecutor([succeed, succeed, fill_disk_then_succeed])
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    first = CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(results)])
    assert first.exit_code == 1, first.output
    assert "No space left on device" in first.output or "disk is full" in first.output
    assert "every finished run is kept" in first.output
    with Manifest.open_readonly(results / "t") as manifest:
        assert manifest.integrity_ok()
        assert manifest.counts()["done"] == 2
    # the disk is still full: status reads, report reports and names what it cannot write
    status = CliRunner().invoke(cli.main, ["status", str(results / "t")])
    assert status.exit_code == 0 and "2/6 done" in status.output, status.output
    report = CliRunner().invoke(cli.main, ["report", str(results / "t")])
    assert report.exit_code == 1 and "Traceback" not in report.output and report.exception is not None
    assert "error: cannot write" in report.output and str(results / "t") in report.output
    assert not list((results / "t").rglob("*.tmp"))

    (small_disk / "ballast").unlink()
    executor = FakeExecutor()
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    second = CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(results)])
    assert second.exit_code == 0, second.output
    assert len(executor.requests) == 4
    with Manifest.open_readonly(results / "t") as manifest:
        assert manifest.integrity_ok() and manifest.counts()["done"] == 6


def test_a_read_only_results_directory_is_read_and_writing_says_where(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN)
    results = small_disk / "results"
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    assert CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(results)]).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)  # read-only, even for root
    status = CliRunner().invoke(cli.main, ["status", str(results / "t")])
    assert status.exit_code == 0 and "6/6 done" in status.output, status.output
    report = CliRunner().invoke(cli.main, ["report", str(results / "t")])
    assert report.exit_code == 1 and "Traceback" not in report.output
    assert "error: cannot write" in report.output and "Read-only file system" in report.output
    campaign.write_text(CAMPAIGN.replace("cycles: 2", "cycles: 3"))  # something to do
    again = CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(results)])
    assert again.exit_code == 1 and "Read-only file system" in again.output, again.output
    assert str(results / "t") in again.output and "Traceback" not in again.output
