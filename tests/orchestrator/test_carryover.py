"""The balanced run order: each experiment once per cycle, its predecessors spread evenly."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.campaign import parse_campaign
from orchestrator.carryover import balanced_cycles, carryover_balance
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
