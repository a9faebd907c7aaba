"""Run orders that balance carry-over, and how balanced an order is.

A GPU carries heat, and so leakage power, from one run into the next. If an experiment always ran
right after the same one (``interleaved`` repeats one sequence every cycle), a heavy predecessor
would bias it alike in every cycle and averaging cycles could not remove it. ``balanced_cycles``
keeps every experiment exactly once per cycle, but picks each cycle's sequence so that over the
campaign every experiment's predecessors — every experiment, itself included (across a cycle
boundary) — are as evenly spread as possible, the idea of a (strongly) balanced crossover design
generalised to any number of experiments and cycles. Which experiment opens a cycle (the run after
``gaps.between_cycles_s``) is spread too.

How: the order minimises Σ count(a directly before b)² over all ordered pairs, plus Σ (cycles
each experiment opens)², which is smallest when the counts are even. A greedy start (each next run
is the one that has followed the last the fewest times, ties broken by the seeded RNG) is improved
by simulated annealing over swaps inside a cycle, until the cost reaches its lower bound (the
counts as even as they can be) or after a fixed number of steps. Deterministic per seed.

That search keeps an n × n table of pair counts and its greedy start is quadratic in n: above
``SEARCH_MAX_EXPERIMENTS`` experiments the order is constructed instead, in time linear in the
runs (``constructed_cycles``): cycle c visits the experiments, relabelled by a seeded
permutation, in steps of its own stride a_c (coprime with n, all strides distinct), so in cycle
c every experiment follows the one a_c before it — a different predecessor in every cycle — and
the cycles' openers are distinct and chosen so that no cycle boundary repeats a pair. While
cycles ≤ φ(n)/2 (φ(n) ≥ 240 for any n above the threshold) every pair occurs at most once and
each opener once: the cost's lower bound, as the search would reach it; beyond, strides are
reused in turn and the spread stays within ⌈cycles/φ(n)⌉ + 1.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter, ne

from orchestrator.gc_pause import gc_paused

ANNEAL_STEPS_PER_RUN = 200
ANNEAL_STEPS_MIN = 2_000
ANNEAL_STEPS_MAX = 100_000
START_TEMPERATURE = 1.5
# The search (today's exact orders) up to this many experiments: 1000 × 3 takes about 0.25 s;
# above it, the linear construction, which reaches the same lower bound there.
SEARCH_MAX_EXPERIMENTS = 1000
BOUNDARY_TRIES = 64  # openers tried for a cycle boundary that repeats no pair


def _even_cost(total: int, slots: int) -> int:
    """Σ count² of ``total`` spread as evenly as possible over ``slots``."""
    q, r = divmod(total, slots)
    return r * (q + 1) ** 2 + (slots - r) * q * q


def lower_bound(n: int, cycles: int) -> int:
    """The cost of perfectly even counts: each experiment has a predecessor in every cycle but
    the very first run, and opens ``cycles / n`` cycles."""
    return _even_cost(cycles - 1, n) + (n - 1) * _even_cost(cycles, n) + _even_cost(cycles, n)


def _greedy(n: int, cycles: int, rng: random.Random) -> list[int]:
    follows = [[0] * n for _ in range(n)]
    opens = [0] * n
    order: list[int] = []
    for _ in range(cycles):
        left = list(range(n))
        rng.shuffle(left)
        for position in range(n):
            if not order:
                pick = min(left, key=lambda x: opens[x])
            else:
                last = order[-1]
                pick = min(left, key=lambda x: (follows[last][x], opens[x] if position == 0 else 0))
                follows[last][pick] += 1
            if position == 0:
                opens[pick] += 1
            left.remove(pick)
            order.append(pick)
    return order


class _Annealer:
    """Swaps two runs inside one cycle, keeping the pair and opener counts up to date."""

    def __init__(self, order: list[int], n: int, cycles: int):
        self.order, self.n, self.cycles = order, n, cycles
        self.follows = [[0] * n for _ in range(n)]
        self.opens = [0] * n
        for a, b in itertools.pairwise(order):
            self.follows[a][b] += 1
        for cycle in range(cycles):
            self.opens[order[cycle * n]] += 1
        self.cost = sum(c * c for row in self.follows for c in row) + sum(c * c for c in self.opens)

    def _count(self, edges: set[int], opener: int | None, sign: int) -> int:
        """Add ``sign`` to the counts the swap touches; returns the change of the cost."""
        change = 0
        for i in edges:
            a, b = self.order[i], self.order[i + 1]
            change += sign * (2 * self.follows[a][b] + sign)
            self.follows[a][b] += sign
        if opener is not None:
            first = self.order[opener]
            change += sign * (2 * self.opens[first] + sign)
            self.opens[first] += sign
        return change

    def swap(self, cycle: int, u: int, v: int) -> int:
        """Swap positions ``u`` and ``v`` of ``cycle``; returns the change of the cost."""
        pu, pv = cycle * self.n + u, cycle * self.n + v
        last = len(self.order) - 1
        edges = {i for p in (pu, pv) for i in (p - 1, p) if 0 <= i < last}
        opener = cycle * self.n if 0 in (u, v) else None
        change = self._count(edges, opener, -1)
        self.order[pu], self.order[pv] = self.order[pv], self.order[pu]
        change += self._count(edges, opener, +1)
        self.cost += change
        return change


def balanced_cycles(n: int, cycles: int, seed: int = 0) -> list[list[int]]:
    """``cycles`` permutations of ``range(n)``, in run order, balanced for carry-over (see the
    module doc): searched up to ``SEARCH_MAX_EXPERIMENTS`` experiments, constructed above."""
    if n > SEARCH_MAX_EXPERIMENTS:
        return constructed_cycles(n, cycles, seed)
    rng = random.Random(seed)
    order = _greedy(n, cycles, rng)
    if n >= 2:
        order = _anneal(order, n, cycles, rng)
    return [order[c * n : (c + 1) * n] for c in range(cycles)]


def constructed_cycles(n: int, cycles: int, seed: int = 0) -> list[list[int]]:
    """``cycles`` permutations of ``range(n)`` in time linear in the runs (the module doc says
    how): cycle c is ``label[(b_c + a_c · i) mod n]`` for i = 0 … n−1. Needs n ≥ 3 for two
    distinct strides; deterministic per seed."""
    rng = random.Random(seed)
    label = list(range(n))
    rng.shuffle(label)
    units = [a for a in range(1, n) if math.gcd(a, n) == 1] or [1]
    strides = rng.sample(units, min(cycles, len(units)))
    strides = [strides[c % len(strides)] for c in range(cycles)]  # reused only past φ(n) cycles
    in_cycle = set(strides)  # a boundary with one of these strides repeats a pair of that cycle
    openers = rng.sample(range(n), min(n, cycles + BOUNDARY_TRIES))  # a seeded queue of them
    blocks: list[list[int]] = []
    last: int | None = None  # the previous cycle's last run, before relabelling
    for cycle, stride in enumerate(strides):
        first = _opener(openers, cycle % len(openers), last, stride, in_cycle, n)
        blocks.append([label[(first + stride * i) % n] for i in range(n)])
        last = (first - stride) % n
    return blocks


def _opener(openers: list[int], at: int, last: int | None, stride: int, in_cycle: set[int], n: int) -> int:
    """The next cycle's opener from the seeded queue ``openers`` (from index ``at``; the one
    chosen is swapped there): the first whose boundary pair (``last`` → opener) is new — not a
    run after itself, and not a pair another cycle has (a boundary at the cycle's own stride is
    the one pair that cycle lacks)."""
    for offset in range(min(BOUNDARY_TRIES, len(openers) - at)):
        candidate = openers[at + offset]
        step = None if last is None else (candidate - last) % n
        if step is None or step == stride or (step != 0 and step not in in_cycle):
            openers[at], openers[at + offset] = candidate, openers[at]
            return candidate
    return openers[at]


def _anneal(order: list[int], n: int, cycles: int, rng: random.Random) -> list[int]:
    state = _Annealer(order, n, cycles)
    floor = lower_bound(n, cycles)
    steps = min(ANNEAL_STEPS_MAX, ANNEAL_STEPS_MIN + ANNEAL_STEPS_PER_RUN * n * cycles)
    best_cost, best = state.cost, list(state.order)
    for step in range(steps):
        if best_cost <= floor:
            break
        temperature = START_TEMPERATURE * (1 - step / steps) + 1e-3
        cycle, u, v = rng.randrange(cycles), *rng.sample(range(n), 2)
        change = state.swap(cycle, u, v)
        if change <= 0 or rng.random() < math.exp(-change / temperature):
            if state.cost < best_cost:
                best_cost, best = state.cost, list(state.order)
        else:
            state.swap(cycle, u, v)  # undo
    return best


@dataclass(frozen=True)
class CarryoverBalance:
    """How evenly each experiment's predecessors are spread over an order."""

    spread: int  # over experiments: most minus fewest times one predecessor came before it
    fixed: tuple[Hashable, ...]  # experiments that follow the same one in all their cycles
    opens_spread: int  # most minus fewest cycles an experiment opens


def carryover_balance(order: Sequence[tuple[Hashable, int]]) -> CarryoverBalance:
    """Measure ``order`` ((experiment, cycle) in run order): predecessors are counted over the
    whole sequence, across cycle boundaries too."""
    with gc_paused():  # a pair per run, all counted at once
        return _balance(order)


def _balance(order: Sequence[tuple[Hashable, int]]) -> CarryoverBalance:
    # Counted with C-level helpers (Counter, set, map, compress): 100k experiments × 3 cycles
    # are 300k runs.
    sequence = list(map(itemgetter(0), order))
    occurrences = Counter(sequence)
    experiments = list(occurrences)  # in order of first run
    n = len(experiments)
    cycles = list(map(itemgetter(1), order))
    openers = sequence[:1] + list(compress(sequence[1:], map(ne, cycles[1:], cycles)))
    opens = Counter(dict.fromkeys(experiments, 0))
    opens.update(openers)
    opens_spread = max(opens.values(), default=0) - min(opens.values(), default=0)
    pairs = list(itertools.pairwise(sequence))
    if len(set(pairs)) == len(pairs) and max(occurrences.values(), default=0) < n:
        # Every pair once and none preceded by every experiment (it would need n runs): each
        # experiment's counts are 1 and 0, and one with two predecessors has two different.
        return CarryoverBalance(spread=min(len(pairs), 1), fixed=(), opens_spread=opens_spread)
    # Only the pairs that occur are counted (a table of every pair would grow as n²): an
    # experiment's fewest is 0 unless every experiment came before it at least once.
    counted = Counter(pairs)
    distinct = Counter(map(itemgetter(1), counted))
    total = Counter(sequence[1:])
    most: dict[Hashable, int] = {}
    for (_, b), count in counted.items():
        if count > most.get(b, 0):
            most[b] = count
    full = {b for b, k in distinct.items() if k == n}  # preceded by every experiment
    fewest: dict[Hashable, int] = {}
    for (_, b), count in counted.items() if full else ():
        if b in full and count < fewest.get(b, count + 1):
            fewest[b] = count
    spread = max((most[b] - fewest.get(b, 0) for b in most), default=0)
    fixed = tuple(b for b in experiments if total[b] >= 2 and distinct[b] == 1)
    return CarryoverBalance(spread=spread, fixed=fixed if n >= 2 else (), opens_spread=opens_spread)
