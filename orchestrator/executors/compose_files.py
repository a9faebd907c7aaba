"""Which compose files camp's ``docker compose`` reads: ``compose.yaml``, and on an engine with no
NVIDIA runtime (a laptop, CI) ``compose.cpu.yaml`` beside it too, which drops the GPU services'
NVIDIA device reservation — Docker could not satisfy it there, and the pytorch image built with
a CPU torch runs the real backend on the CPU. An engine with the NVIDIA runtime, or one camp
cannot ask, reads ``compose.yaml`` alone: the GPU path is exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

CPU_OVERRIDE = "compose.cpu.yaml"
NVIDIA_RUNTIME = "nvidia"


def engine_has_nvidia(info: Any) -> bool:
    """Whether ``docker info`` lists the NVIDIA runtime (what ``camp doctor`` checks too)."""
    return NVIDIA_RUNTIME in (getattr(info, "runtimes", None) or {})


def compose_files(compose_file: Path, engine_info: Callable[[], Any]) -> list[Path]:
    """``[compose_file]``, plus its CPU override where there is one and ``engine_info()`` (``docker
    info``) shows no NVIDIA runtime; an engine that cannot be asked leaves the GPU path alone."""
    override = compose_file.with_name(CPU_OVERRIDE)
    if not override.is_file():
        return [compose_file]
    try:
        gpus = engine_has_nvidia(engine_info())
    except Exception:  # no answer: whatever fails next says why; never guess a CPU host
        return [compose_file]
    return [compose_file] if gpus else [compose_file, override]
