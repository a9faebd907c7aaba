"""Helpers for tests that drive the real `camp` command (as a user would) against real Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def camp(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the `camp` CLI in a subprocess from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def status(campaign_dir: Path) -> dict:
    result = camp("status", str(campaign_dir), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def camp_containers(campaign: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=camp.campaign={campaign}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.fixture
def smoke_campaign(tmp_path: Path) -> Path:
    """The shipped smoke campaign under a name of this test's own, so tests never share results."""
    name = f"it-{uuid.uuid4().hex[:10]}"
    text = (REPO / "campaigns" / "smoke.yaml").read_text().replace("name: smoke", f"name: {name}")
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    return path
