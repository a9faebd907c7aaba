"""Inference backends behind one protocol (``base.Backend``). Which class implements a backend is
its registry entry's ``implementation`` (``camp_contract.backends``); its module is imported only
when that backend is asked for, so heavy frameworks load only in their own image."""

from __future__ import annotations

import importlib

from camp_contract.backends import backend_entry
from harness.backends.base import Backend


def get_backend(name: str) -> Backend:
    """A fresh instance of backend ``name``'s implementation."""
    entry = backend_entry(name)
    module_name, class_name = entry.implementation.split(":")
    try:
        implementation = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise RuntimeError(
            f"backend {name}: its implementation {entry.implementation} cannot be loaded "
            f"({type(err).__name__}: {err})"
        ) from err
    backend: Backend = implementation()
    return backend
