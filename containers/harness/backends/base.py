"""The protocol every inference backend implements.

Heavy imports (torch, vllm, tensorrt_llm) belong inside ``load``, never at module import, so the
host and the stub image stay light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from camp_contract.models import RunSpec
from camp_contract.params import BackendParams

if TYPE_CHECKING:
    from harness.serving.handle import ServerHandle

P = TypeVar("P", bound=BackendParams)

# What emptying the engine's cross-request cache between warmup and the window did: "reset";
# "nothing_cached" (the backend keeps nothing between requests); "not_offered" (the engine may
# keep a cache but has no call to empty it); "refused" (the engine declined, e.g. blocks in use).
CacheReset = Literal["reset", "nothing_cached", "not_offered", "refused"]


@dataclass(frozen=True)
class Completion:
    """One request's outcome as the backend saw it."""

    input_tokens: int
    output_tokens: int
    latency_s: float


class Backend(Protocol):
    # What a request's latency covers: "per_request", "batch" (its batch's) or "whole_call".
    latency_scope: str

    def load(self, spec: RunSpec) -> None:
        """Load the model and engine described by ``spec`` (timed and metered by the caller)."""

    def run(self, prompts: list[str]) -> list[Completion]:
        """Serve ``prompts`` (batched as the backend's params say) and return one completion each."""

    def warmup_batch_size(self) -> int:
        """How many prompts one warmup step sends: one batch as the backend forms them."""

    def reset_cache(self) -> CacheReset:
        """Empty any cache that would let a later request skip work (prefix cache, reusable KV
        blocks), so the measured window starts as cold as its first request would in service."""

    def release(self) -> None:
        """Free the model and any device memory."""


# Entered by a server for each request it computes on: the synthetic power source's busy(), a
# no-op for a real GPU.
Busy = Callable[[], contextlib.AbstractContextManager[None]]


@runtime_checkable
class ServingBackend(Protocol):
    """A backend that can run ``workload.mode: server`` (its registry entry says ``serves``)."""

    def start_server(self, spec: RunSpec, busy: Busy) -> ServerHandle:
        """Start the engine's OpenAI-compatible server on 127.0.0.1 for ``spec`` (its ``model``
        already the local path) and return at once; the caller waits until it is healthy (timed
        and metered as the load) and stops it."""
        ...


def reset_prefix_cache(engine: Any) -> CacheReset:
    """``engine.reset_prefix_cache()`` where the engine has it (vLLM from 0.7; TensorRT-LLM only
    in releases after the image's pin); it answers False when it could not empty the cache."""
    reset = getattr(engine, "reset_prefix_cache", None)
    if reset is None:
        return "not_offered"
    return "refused" if reset() is False else "reset"


def params_as(spec: RunSpec, model: type[P]) -> P:
    """The spec's parameters as ``model``: validated when the spec was, typed by its backend, so a
    backend reads them without validating again; a spec of another backend is a programming error."""
    if not isinstance(spec.params, model):
        raise TypeError(
            f"a {spec.backend} spec carries {type(spec.params).__name__}, not the {model.__name__} "
            "this backend reads"
        )
    return spec.params
