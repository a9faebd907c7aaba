"""The protocol every inference backend implements.

Heavy imports (torch, vllm, tensorrt_llm) belong inside ``load``, never at module import, so the
host and the stub image stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.contract import RunSpec


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

    def release(self) -> None:
        """Free the model and any device memory."""
