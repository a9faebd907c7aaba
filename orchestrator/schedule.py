"""The order runs happen in: which (exp_id, cycle) comes next.

Order matters for energy: a GPU warms up over a campaign and other tenants come and go, so
running every experiment once per cycle (interleaved) spreads that drift over all configs
instead of biasing whichever ran last.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

OrderMode = Literal["interleaved", "shuffled", "grouped"]


def schedule(exp_ids: Sequence[str], cycles: int, mode: OrderMode, seed: int = 0) -> list[tuple[str, int]]:
    """Every (exp_id, cycle) exactly once, in run order; the same inputs give the same order."""
    if mode == "grouped":
        return [(exp_id, cycle) for exp_id in exp_ids for cycle in range(cycles)]
    rng = random.Random(seed)
    order: list[tuple[str, int]] = []
    for cycle in range(cycles):
        block = list(exp_ids)
        if mode == "shuffled":
            rng.shuffle(block)
        order += [(exp_id, cycle) for exp_id in block]
    return order
