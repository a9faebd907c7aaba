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

    (small_disk / "ballast").unlink()
    executor = FakeExecutor()
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    second = CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(results)])
    assert second.exit_code == 0, second.output
    assert len(executor.requests) == 4
    with Manifest.open_readonly(results / "t") as manifest:
        assert manifest.integrity_ok() and manifest.counts()["done"] == 6
