"""Inference backends behind one protocol (``base.Backend``); each module is imported only when
its backend is asked for, so heavy frameworks load only in their own image."""

from __future__ import annotations

import importlib

from camp_contract.models import BackendName
from harness.backends.base import Backend

_MODULES: dict[BackendName, tuple[str, str]] = {
    "stub": ("harness.backends.stub", "StubBackend"),
    "pytorch": ("harness.backends.pytorch", "PyTorchBackend"),
    "vllm": ("harness.backends.vllm_backend", "VllmBackend"),
    "tensorrt": ("harness.backends.tensorrt_backend", "TensorRTBackend"),
}


def get_backend(name: BackendName) -> Backend:
    module_name, class_name = _MODULES[name]
    backend: Backend = getattr(importlib.import_module(module_name), class_name)()
    return backend
