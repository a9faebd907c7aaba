"""The executor registry: one entry makes a runtime (and its placement) a choice of a campaign's
``executor:`` and ``camp run --executor``; ``auto`` goes by rank and says what it skipped.

This module is itself the toy executor's runtime and placement module (make_runtime,
make_placement), as the registry finds them by import path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli
from orchestrator.campaign import Campaign, parse_campaign
from orchestrator.config_errors import ConfigError
from orchestrator.executors import ExecutorEntry, RuntimeSetup, make_executor, register_executor, registry
from orchestrator.executors import docker as docker_module
from orchestrator.executors.gpu_pool import LocalGpuPool
from orchestrator.executors.local import LocalRuntime
from orchestrator.manifest import Manifest
from tests.orchestrator.fakes import FakeExecutor

BUILT: dict[str, object] = {}


def make_runtime(setup: RuntimeSetup) -> FakeExecutor:
    BUILT["setup"] = setup
    BUILT["runtime"] = runtime = FakeExecutor(name="toy")
    return runtime


def make_placement(campaign: Campaign) -> LocalGpuPool:
    BUILT["placement"] = placement = LocalGpuPool(campaign.gpus)
    return placement


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test registers into a copy; the built-in entries are untouched afterwards."""
    monkeypatch.setattr(registry, "EXECUTORS", dict(registry.EXECUTORS))
    BUILT.clear()
    yield


def register_toy(**changes: object) -> None:
    fields: dict[str, object] = {
        "name": "toy",
        "runtime": __name__,
        "description": "the toy",
        "placement": __name__,
        **changes,
    }
    register_executor(ExecutorEntry(**fields))  # type: ignore[arg-type]


CAMPAIGN = "name: t\nmodels: [m]\nbackends: {stub: {grid: {batch_size: [1, 2]}}}\ncycles: 1\n"


def test_one_entry_makes_a_campaign_executor_run_through_its_runtime_and_placement(tmp_path: Path) -> None:
    register_toy()
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN + "executor: toy\n")
    compose = tmp_path / "compose.yaml"
    done = CliRunner().invoke(
        cli.main, ["run", str(campaign), "--results-dir", str(tmp_path / "r"), "--compose-file", str(compose)]
    )
    assert done.exit_code == 0, done.output
    assert "with executor 'toy'" in done.output
    runtime = BUILT["runtime"]
    assert isinstance(runtime, FakeExecutor) and len(runtime.requests) == 2
    assert BUILT["setup"] == RuntimeSetup(compose_file=compose)
    assert isinstance(BUILT["placement"], LocalGpuPool)
    with Manifest.open_readonly(tmp_path / "r" / "t") as manifest:
        assert manifest.counts()["done"] == 2


def test_the_command_line_offers_what_is_registered(tmp_path: Path) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(CAMPAIGN)
    results = ["--results-dir", str(tmp_path / "r")]
    refused = CliRunner().invoke(cli.main, ["run", str(campaign), "--executor", "toy", *results])
    assert refused.exit_code == 2 and "'toy' is not one of 'auto', 'docker', 'local'" in refused.output
    register_toy()
    assert "[auto|docker|local|slurm|toy]" in CliRunner().invoke(cli.main, ["run", "--help"]).output
    done = CliRunner().invoke(cli.main, ["run", str(campaign), "--executor", "toy", *results])
    assert done.exit_code == 0, done.output
    assert "with executor 'toy'" in done.output


def test_a_misspelt_executor_is_named_with_the_registered_one_it_resembles() -> None:
    register_toy(name="toaster")
    allowed = "auto, docker, local, slurm, toaster"
    with pytest.raises(
        ConfigError, match=rf"executor: 'toastr' is not one of {allowed} — did you mean 'toaster'\?"
    ):
        parse_campaign(CAMPAIGN + "executor: toastr\n", Path("c.yaml"))
    assert parse_campaign(CAMPAIGN + "executor: toaster\n", Path("c.yaml")).executor == "toaster"


def test_auto_tries_entries_by_rank_and_says_which_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "unavailable", lambda setup: "no toy here", raising=False)
    monkeypatch.setattr(docker_module, "engine_answers", lambda: "no Docker engine answers")
    register_toy(auto_rank=-1)
    runtime, notice = make_executor("auto", tmp_path / "compose.yaml")
    assert isinstance(runtime, LocalRuntime)
    assert notice == "no toy here: running the harness locally (executor 'local') instead"
    monkeypatch.delattr(module, "unavailable")
    runtime, notice = make_executor("auto", tmp_path / "compose.yaml")
    assert runtime.name == "toy" and notice is None


@pytest.mark.parametrize("name", ["auto", "Toy", "my_toy", ""])
def test_a_name_a_campaign_could_not_spell_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters, digits and '-'"):
        register_toy(name=name)
