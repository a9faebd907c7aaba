from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from python_on_whales.exceptions import DockerException

from orchestrator.doctor import run_checks


class FakeDocker:
    """Answers like python-on-whales' DockerClient on a host with or without NVIDIA."""

    def __init__(self, *, nvidia: bool, built: set[str], engine: bool = True):
        self.nvidia, self.built, self.engine = nvidia, built, engine
        services = {"stub": "camp-stub", "vllm": "camp-vllm"}
        self.compose = SimpleNamespace(
            version=lambda: "Docker Compose version v2.40.3",
            config=lambda: SimpleNamespace(
                services={k: SimpleNamespace(image=v) for k, v in services.items()}
            ),
        )
        self.image = SimpleNamespace(exists=lambda name: name in self.built)
        self.runs: list[dict[str, Any]] = []

    def version(self) -> Any:
        if not self.engine:
            raise DockerException(["docker", "version"], 1, stderr=b"Cannot connect to the Docker daemon")
        return SimpleNamespace(server=SimpleNamespace(version="27.0"))

    def info(self) -> Any:
        return SimpleNamespace(runtimes={"runc": {}, **({"nvidia": {}} if self.nvidia else {})})

    def run(self, image: str, command: list[str], **kwargs: Any) -> str:
        self.runs.append({"image": image, "command": command, **kwargs})
        return "2\n"


def levels(checks) -> dict[str, str]:
    return {c.name: c.level for c in checks}


def test_gpu_host_with_everything_built(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    client = FakeDocker(nvidia=True, built={"camp-stub", "camp-vllm"})
    checks = run_checks(client, compose, tmp_path / "results")
    assert set(levels(checks).values()) == {"ok"}
    gpu = next(c for c in checks if c.name == "GPU in a container")
    assert "2 GPUs visible" in gpu.detail
    assert client.runs[0]["gpus"] == "all" and client.runs[0]["image"] == "camp-stub"


def test_cpu_host_warns_for_gpu_parts_and_fails_only_what_the_stub_needs(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    checks = run_checks(FakeDocker(nvidia=False, built=set()), compose, tmp_path / "r")
    found = levels(checks)
    assert found["NVIDIA container runtime"] == "warn"
    assert found["image camp-vllm"] == "warn"
    assert found["image camp-stub"] == "fail"
    assert "fix: make provision" in next(c.line() for c in checks if c.name == "image camp-stub")
    assert "make images IMAGES=vllm" in next(c.line() for c in checks if c.name == "image camp-vllm")
    strict = levels(
        run_checks(FakeDocker(nvidia=False, built={"camp-stub"}), compose, tmp_path / "r", require_gpu=True)
    )
    assert strict["NVIDIA container runtime"] == "fail"


def test_no_engine_is_a_failure_with_the_reason(tmp_path: Path) -> None:
    checks = run_checks(FakeDocker(nvidia=False, built=set(), engine=False), tmp_path / "none.yaml", tmp_path)
    engine = checks[0]
    assert (
        engine.level == "fail" and "Cannot connect" in engine.detail and "start the engine" in engine.line()
    )
    assert levels(checks)["compose file"] == "fail"
