"""Which compose files camp reads: compose.cpu.yaml only on an engine without the NVIDIA runtime,
so a CPU-only machine can run the GPU services' images while a GPU machine's path is unchanged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from orchestrator.executors import docker
from orchestrator.executors.compose_files import CPU_OVERRIDE, compose_files

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"


def info(*runtimes: str) -> Any:
    return lambda: SimpleNamespace(runtimes={key: {} for key in runtimes})


def test_an_engine_without_the_nvidia_runtime_reads_the_cpu_override_too() -> None:
    assert compose_files(COMPOSE, info("runc")) == [COMPOSE, REPO / CPU_OVERRIDE]


def test_an_engine_with_the_nvidia_runtime_or_one_that_cannot_be_asked_reads_compose_yaml_alone() -> None:
    assert compose_files(COMPOSE, info("runc", "nvidia")) == [COMPOSE]

    def no_answer() -> Any:
        raise RuntimeError("Cannot connect to the Docker daemon")

    assert compose_files(COMPOSE, no_answer) == [COMPOSE]


def test_a_compose_file_with_no_override_beside_it_is_read_alone(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    assert compose_files(tmp_path / "compose.yaml", info()) == [tmp_path / "compose.yaml"]


def test_the_override_resets_only_the_gpu_services_device_reservation_and_locked_memory() -> None:
    """What a CPU engine cannot grant: the NVIDIA devices, and (in a container engine that may not
    raise RLIMIT_MEMLOCK, as in CI) the unlimited locked memory NCCL wants, which makes runc refuse
    to start the container at all."""

    class ResetTag(yaml.SafeLoader):
        pass

    ResetTag.add_constructor("!reset", lambda loader, node: "RESET")
    override = yaml.load((REPO / CPU_OVERRIDE).read_text(), Loader=ResetTag)
    base = yaml.safe_load(COMPOSE.read_text())["services"]
    gpu_services = {name for name, service in base.items() if "deploy" in service}
    assert gpu_services == {"pytorch", "vllm", "tensorrt"}
    assert all(base[name]["ulimits"]["memlock"] == -1 for name in gpu_services)
    assert override["services"] == {name: {"deploy": "RESET", "ulimits": "RESET"} for name in gpu_services}


def test_the_docker_runtime_runs_compose_with_the_files_its_engine_calls_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict[str, Any]] = []

    class FakeClient:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        def info(self) -> Any:
            return SimpleNamespace(runtimes={"runc": {}})

    monkeypatch.setattr(docker, "DockerClient", FakeClient)
    runtime = docker.DockerRuntime(COMPOSE)
    assert runtime.compose_files() == [COMPOSE, REPO / CPU_OVERRIDE]
    compose_clients = [kwargs for kwargs in made if "compose_files" in kwargs]
    assert compose_clients and all(
        kwargs["compose_files"] == [COMPOSE, REPO / CPU_OVERRIDE] and kwargs["compose_profiles"] == ["gpu"]
        for kwargs in compose_clients
    )
