"""Shared test set-up: the docker and slurm markers are required (fail instead of skipping) when
CAMP_REQUIRE_DOCKER=1 / CAMP_REQUIRE_SLURM=1, as in CI, so the real container and cluster paths
can never silently go untested."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

# No test may reach the Hub (CI has no route to it): set before huggingface_hub reads it.
os.environ["HF_HUB_OFFLINE"] = "1"

import huggingface_hub
import pytest

from tests.fake_hub import FakeHub

# Subprocesses (`python -m harness`, the local executor) run this checkout's code as well, not
# the checkout the interpreter's environment was installed from (they differ in a git worktree).
_REPO = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(_REPO / "containers"), str(_REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _require_slurm(items)
    docker_items = [item for item in items if "docker" in item.keywords]
    if not docker_items:
        return
    from orchestrator.executors.docker import engine_answers

    problem = engine_answers()
    if problem is None:
        return
    if os.environ.get("CAMP_REQUIRE_DOCKER") == "1":
        raise pytest.UsageError(f"CAMP_REQUIRE_DOCKER=1 but {problem}")
    for item in docker_items:
        item.add_marker(
            pytest.mark.skip(reason=f"{problem} (set CAMP_REQUIRE_DOCKER=1 to make this an error)")
        )


def _require_slurm(items: list[pytest.Item]) -> None:
    slurm_items = [item for item in items if "slurm" in item.keywords]
    if not slurm_items:
        return
    from orchestrator.executors.slurm_jobs import problem as slurm_problem

    problem = slurm_problem()
    if problem is None:
        return
    if os.environ.get("CAMP_REQUIRE_SLURM") == "1":
        raise pytest.UsageError(f"CAMP_REQUIRE_SLURM=1 but {problem}")
    for item in slurm_items:
        item.add_marker(
            pytest.mark.skip(reason=f"{problem} (set CAMP_REQUIRE_SLURM=1 to make this an error)")
        )


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """The Hub replaced by tests/fake_hub.py: no test downloads, or waits on a network."""
    fake = FakeHub(tmp_path / "hf-cache")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # restored after the test, whatever fetch_model sets
    return fake


@pytest.fixture
def backend_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``camp_contract.backends`` with its registry (and the plugins it imported) restored after
    the test, so a backend a test registers is seen by no other test."""
    from camp_contract import backends

    monkeypatch.setattr(backends, "_registry", dict(backends._registry))
    monkeypatch.setattr(backends, "_imported_plugins", set(backends._imported_plugins))
    yield backends
