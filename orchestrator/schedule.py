"""The order runs happen in: which (exp_id, cycle) comes next.

Order matters for energy: a GPU warms up over a campaign, carries heat from one run into the
next, and other tenants come and go. Every mode but ``grouped`` runs each experiment once per
cycle, so slow drift spreads over all configs instead of biasing whichever ran last.
``balanced`` (the default) also varies which experiment each one follows from cycle to cycle,
so no experiment is always measured after the same (perhaps heavy) one: see ``carryover.py``.
``interleaved`` repeats one sequence every cycle (each experiment always after the same one);
``shuffled`` shuffles each cycle independently (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import repeat
from typing import Literal

from orchestrator.carryover import balanced_cycles
from orchestrator.gc_pause import gc_paused

OrderMode = Literal["balanced", "interleaved", "shuffled", "grouped"]


def schedule(exp_ids: Sequence[str], cycles: int, mode: OrderMode, seed: int = 0) -> list[tuple[str, int]]:
    """Every (exp_id, cycle) exactly once, in run order; the same inputs give the same order."""
    with gc_paused():  # hundreds of thousands of tuples, all kept
        return _schedule(exp_ids, cycles, mode, seed)


def _schedule(exp_ids: Sequence[str], cycles: int, mode: OrderMode, seed: int) -> list[tuple[str, int]]:
    if mode == "grouped":
        return [(exp_id, cycle) for exp_id in exp_ids for cycle in range(cycles)]
    if mode == "balanced":
        blocks = balanced_cycles(len(exp_ids), cycles, seed)
        by_index = exp_ids.__getitem__
        return [run for cycle, block in enumerate(blocks) for run in zip(map(by_index, block), repeat(cycle))]
    rng = random.Random(seed)
    order: list[tuple[str, int]] = []
    for cycle in range(cycles):
        block = list(exp_ids)
        if mode == "shuffled":
            rng.shuffle(block)
        order += [(exp_id, cycle) for exp_id in block]
    return order
