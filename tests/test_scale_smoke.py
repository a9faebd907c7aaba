"""benchmarks/scale.py runs end to end at 1k (CI's smoke of the scale benchmark): every row
is measured and printed, none fails. It asserts no time: the figures are for reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_scale_benchmark_smoke_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--smoke", "--sizes", "1k"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stdout, done.stdout
    for row in (
        "camp plan",
        "first camp run set-up",
        "camp status",
        "camp status --json",
        "camp report",
        "camp --help",
        "camp --version",
    ):
        assert f"\n{row} " in done.stdout, done.stdout
    assert "manifest " in done.stdout and " MB" in done.stdout  # the size of the 1k manifest
