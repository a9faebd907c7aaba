"""The prompts a run sends: the campaign's own, or synthetic ones made from the seed.

Synthetic prompts need no dataset download and are the same on every machine for a given seed,
so two runs of one experiment send exactly the same text.
"""

from __future__ import annotations

import random

from harness.contract import Workload

VOCABULARY = (
    "energy",
    "measurement",
    "of",
    "language",
    "model",
    "inference",
    "depends",
    "on",
    "batch",
    "size",
    "sequence",
    "length",
    "precision",
    "kernel",
    "choice",
    "memory",
    "bandwidth",
    "clock",
    "frequency",
    "power",
    "limit",
    "temperature",
    "and",
    "the",
    "idle",
    "draw",
    "of",
    "the",
    "accelerator",
    "which",
    "a",
    "careful",
    "experiment",
    "subtracts",
    "before",
    "comparing",
    "configurations",
    "across",
    "cycles",
)


def prompts_for(workload: Workload, seed: int) -> list[str]:
    """``n_requests`` prompts: the given ones cycled, or synthetic ones of ``max_input_tokens`` words."""
    if workload.prompts:
        return [workload.prompts[i % len(workload.prompts)] for i in range(workload.n_requests)]
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(VOCABULARY) for _ in range(workload.max_input_tokens))
        for _ in range(workload.n_requests)
    ]


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
