"""The prompts a run sends: the campaign's own, or synthetic ones made from the seed; and the
warmup's, which are never among them.

Synthetic prompts need no dataset download and are the same on every machine for a given seed,
so two runs of one experiment send exactly the same text. Warmup prompts come from another seed
(``warmup_seed``) and are kept apart from the measured ones: an engine with prefix caching or KV
block reuse would otherwise serve the first measured requests from what warmup left in its cache,
and how many depends on the warmup batch size, i.e. on the very parameter a campaign sweeps.
"""

from __future__ import annotations

import random
from typing import Literal

from camp_contract.models import RunWarning, Workload

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


# Added to the run's seed for the warmup prompts: a stream of its own, recorded in the result.
WARMUP_SEED_OFFSET = 1_000_003
# Draws per warmup prompt before one that equals a measured prompt is accepted (and counted):
# only a tiny prompt space (one or two synthetic words) ever gets there.
DRAWS_PER_WARMUP_PROMPT = 64

WarmupSource = Literal["synthetic", "shuffled_workload_prompts"]


def _synthetic(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def prompts_for(workload: Workload, seed: int) -> list[str]:
    """``n_requests`` prompts: the given ones cycled, or synthetic ones of ``max_input_tokens`` words."""
    if workload.prompts:
        return [workload.prompts[i % len(workload.prompts)] for i in range(workload.n_requests)]
    rng = random.Random(seed)
    return [_synthetic(rng, workload.max_input_tokens) for _ in range(workload.n_requests)]


def warmup_seed(seed: int) -> int:
    return seed + WARMUP_SEED_OFFSET


def _shuffled(template: str, rng: random.Random) -> str | None:
    """``template``'s words in another order (its characters, for a one-word prompt): about the
    same number of tokens, no shared prefix. None when no other order exists."""
    words = template.split()
    units, joiner = (words, " ") if len(set(words)) > 1 else (list(template), "")
    if len(set(units)) < 2:
        return None
    rng.shuffle(units)
    return joiner.join(units)


class WarmupPrompts:
    """As many warmup prompts as the warmup asks for, none of them a measured prompt wherever the
    prompt space allows.

    Synthetic workloads get synthetic prompts of the same length from ``warmup_seed(seed)``. A
    workload of the campaign's own prompts gets those prompts' words shuffled (the i-th warmup
    prompt from the i-th measured prompt, cycled): nearly the same token lengths, none sent as
    written. A prompt with no other order is replaced by synthetic words of the same count."""

    def __init__(self, workload: Workload, seed: int, measured: list[str]) -> None:
        self.seed = warmup_seed(seed)
        self.source: WarmupSource = "shuffled_workload_prompts" if workload.prompts else "synthetic"
        self.sent = 0
        self.overlapping = 0  # sent prompts equal to a measured one (a prompt space too small)
        self._templates = measured if workload.prompts else None
        self._words = workload.max_input_tokens
        self._exclude = set(measured)
        self._rng = random.Random(self.seed)

    def take(self, n: int) -> list[str]:
        """The next ``n`` warmup prompts."""
        return [self._next() for _ in range(n)]

    def _next(self) -> str:
        for _ in range(DRAWS_PER_WARMUP_PROMPT):
            candidate = self._draw()
            if candidate not in self._exclude:
                break
        else:  # every draw was a measured prompt: the last one is sent, and counted
            self.overlapping += 1
        self.sent += 1
        return candidate

    def _draw(self) -> str:
        if self._templates is None:
            return _synthetic(self._rng, self._words)
        template = self._templates[self.sent % len(self._templates)]
        shuffled = _shuffled(template, self._rng)
        return shuffled if shuffled is not None else _synthetic(self._rng, max(1, len(template.split())))

    def as_environment(self) -> dict[str, object]:
        return {"seed": self.seed, "source": self.source, "sent": self.sent}


def prompt_warnings(measured: list[str], warmup: WarmupPrompts) -> list[RunWarning]:
    """Repeats inside the measured window, and warmup prompts that could not be kept out of it."""
    warnings = []
    repeats = len(measured) - len(set(measured))
    if repeats:
        warnings.append(
            RunWarning(
                kind="duplicate_prompts",
                message=f"{repeats} of the {len(measured)} measured prompts repeat an earlier one (a "
                "prompt list with repeats, one shorter than n_requests and cycled, or too few "
                "input tokens to vary): with prefix caching or KV block reuse on, repeats skip "
                "their prefill",
            )
        )
    if warmup.overlapping:
        warnings.append(
            RunWarning(
                kind="warmup_prompts_overlap",
                message=f"{warmup.overlapping} of the {warmup.sent} warmup prompts equal a "
                "measured prompt: the prompt space is too small to keep them apart, so caching "
                "may have primed those measured requests",
            )
        )
    return warnings


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
