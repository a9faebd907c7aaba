"""The environment snapshot stored with every result: what could change a measurement. (Which
camp code and image produced it is ``RunResult.provenance``: harness/provenance.py.)

Never the process environment wholesale: it may hold secrets (HF_TOKEN). Only named facts.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "camp",
    "pydantic",
    "pyarrow",
    "nvidia-ml-py",
    "torch",
    "transformers",
    "accelerate",
    "vllm",
    "tensorrt-llm",
    "tensorrt_llm",
)
RECORDED_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "OMP_NUM_THREADS",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cuda_runtime() -> dict[str, Any]:
    """The CUDA runtime and cuDNN the backend's torch was built with (the driver's CUDA version
    comes from NVML). Only read when the backend already imported torch: never imported here."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"cuda_runtime_version": torch.version.cuda, "cudnn_version": cudnn}


def snapshot(gpus: list[dict[str, Any]], driver: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "gpus": gpus,
        **driver,
        **cuda_runtime(),
        "cpu": {"model": _cpu_model(), "logical_cores": os.cpu_count()},
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "in_container": Path("/.dockerenv").exists(),
        "variables": {k: os.environ[k] for k in RECORDED_VARIABLES if k in os.environ},
        "packages": package_versions(),
        **extra,
    }
