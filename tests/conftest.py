"""Shared test set-up: the docker, slurm, browser and pytorch_image markers are required (fail
instead of skipping) when CAMP_REQUIRE_DOCKER=1 / CAMP_REQUIRE_SLURM=1 / CAMP_REQUIRE_BROWSER=1 /
CAMP_REQUIRE_PYTORCH_IMAGE=1, as in CI, so the real container, cluster, browser and
PyTorch-in-a-container paths can never silently go untested."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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
    _require("docker", "CAMP_REQUIRE_DOCKER", items, _docker_problem)
    _require("slurm", "CAMP_REQUIRE_SLURM", items, _slurm_problem)
    _require("browser", "CAMP_REQUIRE_BROWSER", items, _browser_problem)
    _require("pytorch_image", "CAMP_REQUIRE_PYTORCH_IMAGE", items, _pytorch_image_problem)


def _docker_problem() -> str | None:
    from orchestrator.executors.docker import engine_answers

    return engine_answers()


def _pytorch_image_problem() -> str | None:
    """No engine, or no camp-pytorch image (a CPU-only machine builds one with provisioning)."""
    import subprocess

    problem = _docker_problem()
    if problem is not None:
        return problem
    found = subprocess.run(
        ["docker", "image", "inspect", "camp-pytorch:latest"], capture_output=True, check=False, timeout=60
    )
    if found.returncode != 0:
        return (
            "no camp-pytorch:latest image "
            "(CAMP_REQUIRE_PYTORCH_IMAGE=1 bash scripts/provision-docker.sh builds one)"
        )
    return None


def _browser_problem() -> str | None:
    from tests.browser.chrome import problem

    return problem()


def _slurm_problem() -> str | None:
    from orchestrator.executors.slurm_jobs import problem

    return problem()


def _require(
    marker: str, variable: str, items: list[pytest.Item], find_problem: Callable[[], str | None]
) -> None:
    """Tests marked ``marker`` fail the session where ``variable``=1 and what they need is
    missing (CI); elsewhere they are skipped with the reason."""
    marked = [item for item in items if marker in item.keywords]
    if not marked:
        return
    problem = find_problem()
    if problem is None:
        return
    if os.environ.get(variable) == "1":
        raise pytest.UsageError(f"{variable}=1 but {problem}")
    for item in marked:
        item.add_marker(pytest.mark.skip(reason=f"{problem} (set {variable}=1 to make this an error)"))


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
    monkeypatch.setattr(backends, "_loaded_values", set(backends._loaded_values))
    yield backends
