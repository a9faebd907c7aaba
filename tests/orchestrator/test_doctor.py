from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from python_on_whales.exceptions import DockerException

from orchestrator.doctor import compose_client, run_checks
from orchestrator.executors.compose_files import CPU_OVERRIDE

REPO = Path(__file__).resolve().parents[2]


class FakeDocker:
    """Answers like python-on-whales' DockerClient on a host with or without NVIDIA. Given a
    compose file and the profiles a real client was made with, its ``compose.config()`` lists
    what Compose would: the services of no profile, and those of an active one."""

    def __init__(
        self,
        *,
        nvidia: bool,
        built: set[str],
        engine: bool = True,
        compose_file: Path | None = None,
        profiles: list[str] | None = None,
    ):
        self.nvidia, self.built, self.engine = nvidia, built, engine
        services = {"stub": "camp-stub", "vllm": "camp-vllm"}
        if compose_file is not None:
            declared = yaml.safe_load(compose_file.read_text())["services"]
            services = {
                name: service["image"]
                for name, service in declared.items()
                if not service.get("profiles") or set(service["profiles"]) & set(profiles or [])
            }
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


def test_doctor_reads_compose_with_the_gpu_profile_so_the_gpu_images_are_checked_too(tmp_path: Path) -> None:
    compose = REPO / "compose.yaml"
    client = compose_client(compose, engine_info=lambda: SimpleNamespace(runtimes={"runc": {}}))
    profiles = client.client_config.compose_profiles
    fake = FakeDocker(nvidia=False, built={"camp-stub:latest"}, compose_file=compose, profiles=profiles)
    found = levels(run_checks(fake, compose, tmp_path / "r"))
    assert found["image camp-stub:latest"] == "ok"
    for service in ("pytorch", "vllm", "tensorrt"):
        assert found[f"image camp-{service}:latest"] == "warn"
    # no NVIDIA runtime: the GPU services are read without their device reservation, as camp run does
    assert [Path(f).name for f in client.client_config.compose_files] == ["compose.yaml", CPU_OVERRIDE]
    on_gpu_host = compose_client(compose, engine_info=lambda: SimpleNamespace(runtimes={"nvidia": {}}))
    assert [Path(f).name for f in on_gpu_host.client_config.compose_files] == ["compose.yaml"]
