"""The backend registry: every fact the host and the harness need about a backend, in one entry.

A backend is its parameter model (``camp_contract.params``, or a plugin's own module), its
implementation in the harness (named by ``BackendEntry.implementation``, imported only where
it runs) and one ``BackendEntry`` registered here. The host validates campaigns, prints
``camp schema`` and picks compose services and power sources from the entries; the harness
validates specs, checks its image and loads the implementation from them. Nothing else names a
backend.

Backends outside camp are registered by plugins: modules named in ``CAMP_PLUGINS`` (comma
separated), imported by both sides before the registry is first read, each calling
``register_backend`` (see docs/contributing.md).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from camp_contract.models import GpuSourceName
from camp_contract.params import BackendParams, PyTorchParams, StubParams, TensorRTParams, VllmParams

PLUGINS_VARIABLE = "CAMP_PLUGINS"
NAME_PATTERN = r"^[a-z][a-z0-9_-]*$"


@dataclass(frozen=True)
class BackendEntry:
    """One backend, as both sides know it."""

    name: str  # as campaigns, specs and results spell it
    params: type[BackendParams]  # what a grid point may set; validated on the host and in the container
    implementation: str  # "module:Class" of its harness implementation, imported only where it runs
    needs_gpu: bool = True  # GPU backends run behind compose's `gpu` profile, built by `make images`
    service: str = ""  # its compose service; "" = its name
    power_source: GpuSourceName = "nvml"  # what meters it unless the campaign names a source
    frameworks: tuple[str, ...] = ()  # packages its load() imports: preflight checks the image has them
    loads_model: bool = True  # False: the model name is only a label (the stub), nothing is fetched
    # Whether it can run workload.mode server (its implementation starts an OpenAI-compatible
    # server); grid points in server mode for a backend that cannot are rejected with the reason.
    serves: bool = False

    def __post_init__(self) -> None:
        if not re.match(NAME_PATTERN, self.name):
            raise ValueError(
                f"backend name {self.name!r} must match {NAME_PATTERN} (lower case, digits, _ -)"
            )
        if not (isinstance(self.params, type) and issubclass(self.params, BackendParams)):
            raise TypeError(f"backend {self.name}: params must be a BackendParams subclass")
        if self.implementation.count(":") != 1:
            raise ValueError(f"backend {self.name}: implementation must be 'module:Class'")

    @property
    def compose_service(self) -> str:
        return self.service or self.name

    def parse_params(self, params: Mapping[str, Any]) -> BackendParams:
        """Validate one grid point; raises pydantic.ValidationError with the reason."""
        return self.params.model_validate(params)


BUILTIN_BACKENDS = (
    BackendEntry(
        name="stub",
        params=StubParams,
        implementation="harness.backends.stub:StubBackend",
        needs_gpu=False,
        power_source="synthetic",  # it has no GPU: a known synthetic trace meters it
        loads_model=False,
        serves=True,  # a small OpenAI-compatible streaming server with a latency model
    ),
    BackendEntry(
        name="pytorch",
        params=PyTorchParams,
        implementation="harness.backends.pytorch:PyTorchBackend",
        frameworks=("torch", "transformers"),
    ),
    BackendEntry(
        name="vllm",
        params=VllmParams,
        implementation="harness.backends.vllm_backend:VllmBackend",
        frameworks=("vllm",),
        serves=True,  # `vllm serve`
    ),
    BackendEntry(
        name="tensorrt",
        params=TensorRTParams,
        implementation="harness.backends.tensorrt_backend:TensorRTBackend",
        frameworks=("tensorrt_llm",),
        serves=True,  # `trtllm-serve`
    ),
)

_registry: dict[str, BackendEntry] = {entry.name: entry for entry in BUILTIN_BACKENDS}
_imported_plugins: set[str] = set()
# CAMP_PLUGINS values whose every module is imported: the registry is read once per spec
# validated (10k times by a report), so a value seen before costs a set lookup, not a parse.
_loaded_values: set[str] = set()
_lock = threading.RLock()


class UnknownBackend(KeyError):
    """A backend name no entry has; ``str()`` names the registered ones and how plugins register."""

    def __init__(self, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"registered: {', '.join(known)}"
        super().__init__(
            f"unknown backend {name!r} — {hint} (a plugin's backend needs its module in {PLUGINS_VARIABLE})"
        )
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class PluginError(RuntimeError):
    """A module named in CAMP_PLUGINS could not be imported; the message names it and why."""


def register_backend(entry: BackendEntry) -> None:
    """Add ``entry``; registering the same entry again (a re-imported plugin) changes nothing,
    another entry under a taken name is an error."""
    with _lock:
        existing = _registry.get(entry.name)
        if existing is not None and existing != entry:
            raise ValueError(f"backend {entry.name!r} is registered already (by {existing.implementation})")
        _registry[entry.name] = entry


def load_plugins(environ: Mapping[str, str] | None = None) -> None:
    """Import every module named in CAMP_PLUGINS not imported yet (each registers its backends).
    Both CLIs call it first, so a broken plugin is one clear error; the registry calls it too."""
    names = (environ if environ is not None else os.environ).get(PLUGINS_VARIABLE, "")
    if names in _loaded_values:
        return
    with _lock:
        for module in (n.strip() for n in names.split(",")):
            if not module or module in _imported_plugins:
                continue
            _imported_plugins.add(module)  # before importing: a plugin may read the registry
            try:
                importlib.import_module(module)
            except Exception as err:
                _imported_plugins.discard(module)
                reason = f"{type(err).__name__}: {err}"
                raise PluginError(
                    f"{PLUGINS_VARIABLE} names {module!r}, which cannot be imported: {reason}"
                ) from err
        _loaded_values.add(names)


def backend_entries() -> tuple[BackendEntry, ...]:
    """Every registered backend: the built-in ones first, then plugins' in registration order."""
    load_plugins()
    with _lock:
        return tuple(_registry.values())


def backend_names() -> list[str]:
    return [entry.name for entry in backend_entries()]


def backend_entry(name: str) -> BackendEntry:
    """The entry of backend ``name``; UnknownBackend (with a did-you-mean) if there is none."""
    entries = {entry.name: entry for entry in backend_entries()}
    if name not in entries:
        raise UnknownBackend(name, list(entries))
    return entries[name]


def entry_for_service(service: str) -> BackendEntry | None:
    """The backend a compose service runs, if any."""
    return next((e for e in backend_entries() if e.compose_service == service), None)
