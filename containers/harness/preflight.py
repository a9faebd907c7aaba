"""Preflight: what would make a run fail, or measure the wrong thing, found before anything is
measured — and reported together, so one edit of the campaign fixes them all."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from camp_contract.backends import backend_entry
from camp_contract.model_ref import looks_like_path
from camp_contract.models import RunSpec


def is_installed(module: str) -> bool:
    """Importable as a real package; a bare directory of that name (a namespace package, such
    as the ``vllm/`` Dockerfile folder beside the harness) does not count."""
    if module in sys.modules:  # already imported (by whoever launched the harness in-process)
        return True
    found = importlib.util.find_spec(module)
    return found is not None and found.origin is not None


def find_problems(spec: RunSpec, out_dir: Path) -> list[str]:
    """Every problem with running ``spec`` here that can be seen without loading anything; a
    framework the backend's entry lists but this image lacks means the run is in the wrong image."""
    problems = [
        f"backend {spec.backend} needs the {module!r} package, which this image lacks "
        f"(run it in the {spec.backend} image)"
        for module in backend_entry(spec.backend).frameworks
        if not is_installed(module)
    ]
    if looks_like_path(spec.model) and not Path(spec.model).expanduser().exists():
        problems.append(f"model path {spec.model} does not exist here (is its directory mounted?)")
    existing = next(d for d in (out_dir, *out_dir.parents) if d.exists())  # the rest gets created
    if not os.access(existing, os.W_OK):
        problems.append(f"cannot write the result into {out_dir} ({existing} is not writable)")
    return problems
