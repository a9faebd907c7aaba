"""The balanced run order: each experiment once per cycle, its predecessors spread evenly."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.campaign import parse_campaign
from orchestrator.carryover import (
    SEARCH_MAX_EXPERIMENTS,
    balanced_cycles,
    carryover_balance,
    constructed_cycles,
    lower_bound,
)
from orchestrator.schedule import schedule


def runs(blocks: list[list[int]]) -> list[tuple[int, int]]:
    return [(exp, cycle) for cycle, block in enumerate(blocks) for exp in block]


def cost(blocks: list[list[int]] | tuple[tuple[int, ...], ...], n: int) -> int:
    """Σ (times b ran right after a)² over all ordered pairs + Σ (cycles each experiment opens)²."""
    flat = [x for block in blocks for x in block]
    follows = [[0] * n for _ in range(n)]
    for a, b in itertools.pairwise(flat):
        follows[a][b] += 1
    opens = [sum(block[0] == x for block in blocks) for x in range(n)]
    return sum(c * c for row in follows for c in row) + sum(c * c for c in opens)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), cycles=st.integers(1, 8), seed=st.integers(0, 10**6))
def test_each_experiment_runs_once_per_cycle_and_its_predecessors_are_spread(
    n: int, cycles: int, seed: int
) -> None:
    blocks = balanced_cycles(n, cycles, seed)
    assert len(blocks) == cycles and all(sorted(block) == list(range(n)) for block in blocks)
    assert balanced_cycles(n, cycles, seed) == blocks  # the same seed, the same order
    balance = carryover_balance(runs(blocks))
    # Predecessors (itself included, across a cycle boundary) never all the same; with at most
    # half as many cycles as experiments, all different; otherwise within one run of even.
    assert balance.fixed == ()
    assert balance.spread <= (1 if 2 * cycles <= n else 2)
    assert balance.opens_spread <= 2


@pytest.mark.parametrize(("n", "cycles"), [(2, 2), (2, 3), (2, 5), (3, 2), (3, 3), (3, 4), (4, 2), (4, 3)])
def test_on_small_campaigns_the_order_is_as_balanced_as_any_can_be(n: int, cycles: int) -> None:
    """Against every possible order (up to relabelling: the first cycle is fixed)."""
    perms = list(itertools.permutations(range(n)))
    best = min(cost((perms[0], *rest), n) for rest in itertools.product(perms, repeat=cycles - 1))
    assert all(cost(balanced_cycles(n, cycles, seed), n) == best for seed in range(3))


def test_two_experiments_alternate_who_goes_first_so_each_follows_both() -> None:
    """With interleaved order B would always run right after A: a heavy A would bias every B."""
    order = schedule(["A", "B"], 4, "balanced")
    assert "".join(exp for exp, _ in order) in ("ABBAABBA", "BAABBAAB")
    assert carryover_balance(order).spread <= 1


def test_interleaved_gives_every_experiment_the_same_predecessor_in_every_cycle_balanced_does_not() -> None:
    ids = [f"e{i}" for i in range(5)]
    assert set(carryover_balance(schedule(ids, 4, "interleaved")).fixed) == set(ids)
    balanced = schedule(ids, 4, "balanced", seed=7)
    assert carryover_balance(balanced).fixed == () and carryover_balance(balanced).spread <= 1
    assert sorted(balanced) == sorted(schedule(ids, 4, "grouped"))
    assert [cycle for _, cycle in balanced] == sorted(cycle for _, cycle in balanced)  # cycles stay blocks
    assert balanced != schedule(ids, 4, "balanced", seed=8)


def test_a_campaign_is_balanced_unless_it_asks_otherwise() -> None:
    text = "name: t\nmodels: [m]\nbackends: {stub: {}}\n"
    assert parse_campaign(text, Path("c.yaml")).order.mode == "balanced"
    asked = parse_campaign(text + "order: {mode: interleaved}\n", Path("c.yaml"))
    assert asked.order.mode == "interleaved"


def reference_balance(order: list[tuple[int, int]]) -> tuple[int, tuple[int, ...], int]:
    """The measure spelt out over a table of every pair (n² counts)."""
    experiments = list(dict.fromkeys(exp for exp, _ in order))
    before = {b: dict.fromkeys(experiments, 0) for b in experiments}
    for (a, _), (b, _) in itertools.pairwise(order):
        before[b][a] += 1
    spread = max((max(c.values()) - min(c.values()) for c in before.values()), default=0)
    fixed = tuple(b for b, c in before.items() if sum(c.values()) >= 2 and max(c.values()) == sum(c.values()))
    opens = dict.fromkeys(experiments, 0)
    for index, (exp, cycle) in enumerate(order):
        if index == 0 or order[index - 1][1] != cycle:
            opens[exp] += 1
    opens_spread = max(opens.values(), default=0) - min(opens.values(), default=0)
    return spread, fixed if len(experiments) >= 2 else (), opens_spread


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), max_size=40).map(
        lambda runs: sorted(runs, key=lambda run: run[1])  # cycle by cycle, as a schedule is
    )
)
def test_balance_counts_only_the_pairs_that_occur_and_agrees_with_the_full_table(
    order: list[tuple[int, int]],
) -> None:
    balance = carryover_balance(order)
    assert (balance.spread, balance.fixed, balance.opens_spread) == reference_balance(order)


def test_balance_of_every_pair_seen_counts_the_fewest() -> None:
    order = runs([[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1], [1, 2, 0], [2, 0, 1]] * 2)
    balance = carryover_balance(order)
    assert (balance.spread, balance.fixed, balance.opens_spread) == reference_balance(order)


def totient(n: int) -> int:
    return sum(math.gcd(a, n) == 1 for a in range(1, n))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 120), cycles=st.integers(1, 30), seed=st.integers(0, 10**6))
def test_the_constructed_order_gives_every_experiment_a_different_predecessor_each_cycle(
    n: int, cycles: int, seed: int
) -> None:
    """The linear construction large campaigns get: strides coprime with n, one per cycle."""
    blocks = constructed_cycles(n, cycles, seed)
    assert len(blocks) == cycles and all(sorted(block) == list(range(n)) for block in blocks)
    assert constructed_cycles(n, cycles, seed) == blocks
    balance = carryover_balance(runs(blocks))
    assert balance.fixed == ()
    strides = totient(n)
    if 2 * cycles <= strides:  # every pair at most once, every opener at most once
        assert (balance.spread, balance.opens_spread) <= (1, 1)
        assert cost(blocks, n) == lower_bound(n, cycles)
    assert balance.spread <= -(-cycles // strides) + 1


def test_a_100k_experiment_campaign_gets_a_balanced_order_without_the_quadratic_search() -> None:
    """The default order of a 100k × 3 campaign (the search's n × n table would not fit)."""
    n, cycles = 100_000, 3
    ids = [f"e{i}" for i in range(n)]
    order = schedule(ids, cycles, "balanced", seed=3)
    assert [cycle for _, cycle in order] == sorted(cycle for _, cycle in order)
    assert all(len({exp for exp, c in order if c == cycle}) == n for cycle in range(cycles))
    balance = carryover_balance(order)
    assert (balance.spread, balance.fixed, balance.opens_spread) == (1, (), 1)
    assert order[:n] != [(exp_id, 0) for exp_id in ids]  # not the grid's own order
    assert schedule(ids, cycles, "balanced", seed=3) == order != schedule(ids, cycles, "balanced", seed=4)


def test_up_to_the_threshold_the_order_is_the_search_s_above_it_the_construction() -> None:
    at, above = SEARCH_MAX_EXPERIMENTS, SEARCH_MAX_EXPERIMENTS + 1
    assert balanced_cycles(above, 3, 5) == constructed_cycles(above, 3, 5)
    assert balanced_cycles(at, 2, 5) != constructed_cycles(at, 2, 5)
