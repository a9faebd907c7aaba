"""How balanced each run order is for carry-over, and how long ``balanced`` takes to compute.

For each campaign size (experiments × cycles), per order mode: the carry-over spread (over
experiments, most minus fewest times one experiment ran right after it; itself included), how
many experiments always follow the same one, and the spread of how many cycles each opens;
for ``balanced`` also the time to compute the order (seed 0) and how: searched (annealing, up
to ``SEARCH_MAX_EXPERIMENTS`` experiments) or constructed (linear in the runs, above).

Run: .venv/bin/python benchmarks/schedule_balance.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from orchestrator.carryover import SEARCH_MAX_EXPERIMENTS, carryover_balance  # noqa: E402
from orchestrator.schedule import OrderMode, schedule  # noqa: E402

SIZES = (
    (2, 10),
    (3, 5),
    (4, 3),
    (6, 6),
    (8, 5),
    (12, 12),
    (24, 3),
    (50, 5),
    (200, 3),
    (1000, 3),
    (1001, 3),
    (1001, 30),
    (10_000, 3),
    (10_000, 10),
    (100_000, 3),
)
MODES: tuple[OrderMode, ...] = ("balanced", "interleaved", "shuffled")


def main() -> None:
    print(f"{'size':>12}  " + "  ".join(f"{m:>24}" for m in MODES) + "  balanced takes")
    print(f"{'':>12}  " + "  ".join(f"{'spread / fixed / opens':>24}" for _ in MODES))
    for n, cycles in SIZES:
        ids = [f"e{i}" for i in range(n)]
        cells = []
        took = 0.0
        for mode in MODES:
            began = time.perf_counter()
            order = schedule(ids, cycles, mode, seed=0)
            if mode == "balanced":
                took = time.perf_counter() - began
            b = carryover_balance(order)
            cells.append(f"{b.spread:>8} / {len(b.fixed):>5} / {b.opens_spread:>5}")
        how = "searched" if n <= SEARCH_MAX_EXPERIMENTS else "constructed"
        row = f"{n:>7} × {cycles:<3}  " + "  ".join(f"{c:>24}" for c in cells)
        print(row + f"  {took * 1000:8.1f} ms ({how})")


if __name__ == "__main__":
    main()
