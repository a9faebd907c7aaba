"""Warmup prompts are never the measured ones, and a window that repeats itself says so."""

from __future__ import annotations

from camp_contract.models import Workload
from harness.workload import VOCABULARY, WarmupPrompts, prompt_warnings, prompts_for, warmup_seed


def test_synthetic_warmup_prompts_come_from_another_seed_and_never_equal_a_measured_one() -> None:
    workload = Workload(n_requests=4, max_input_tokens=6)
    measured = prompts_for(workload, seed=3)
    pool = WarmupPrompts(workload, 3, measured)
    warmup = pool.take(50)  # far more than the window holds: generated as needed
    assert not set(warmup) & set(measured)
    assert all(len(p.split()) == 6 and set(p.split()) <= set(VOCABULARY) for p in warmup)
    assert pool.seed == warmup_seed(3) != 3
    assert pool.as_environment() == {"seed": warmup_seed(3), "source": "synthetic", "sent": 50}
    assert WarmupPrompts(workload, 3, measured).take(50) == warmup  # deterministic per seed
    assert prompt_warnings(measured, pool) == []


def test_warmup_from_the_campaigns_prompts_shuffles_their_words_and_sends_none_as_written() -> None:
    given = ("the quick brown fox jumps", "over the lazy dog", "supercalifragilistic", "a")
    workload = Workload(n_requests=4, prompts=given)
    measured = prompts_for(workload, 0)
    pool = WarmupPrompts(workload, 0, measured)
    warmup = pool.take(8)
    assert not set(warmup) & set(given)
    for template, prompt in zip(measured * 2, warmup, strict=True):
        if len(template.split()) > 1:  # the same words, in another order: about the same tokens
            assert sorted(prompt.split()) == sorted(template.split())
        elif len(set(template)) > 1:  # one word: its letters in another order
            assert sorted(prompt) == sorted(template)
        else:  # nothing to reorder: one synthetic word instead
            assert len(prompt.split()) == 1 and prompt in VOCABULARY
    assert pool.as_environment()["source"] == "shuffled_workload_prompts"


def test_a_window_that_repeats_prompts_carries_a_warning() -> None:
    cycled = Workload(n_requests=5, prompts=("a b", "c d"))  # n_requests beyond the list: cycled
    measured = prompts_for(cycled, 0)
    warnings = prompt_warnings(measured, WarmupPrompts(cycled, 0, measured))
    assert [w.kind for w in warnings] == ["duplicate_prompts"]
    assert warnings[0].message.startswith("3 of the 5 measured prompts repeat an earlier one")
    repeated = Workload(n_requests=2, prompts=("same", "same"))  # a list with repeats
    measured = prompts_for(repeated, 0)
    assert [w.kind for w in prompt_warnings(measured, WarmupPrompts(repeated, 0, measured))] == [
        "duplicate_prompts"
    ]


def test_a_prompt_space_too_small_to_keep_warmup_apart_is_counted_and_warned() -> None:
    # one synthetic word: 37 distinct prompts, all of them in a window of 400
    workload = Workload(n_requests=400, max_input_tokens=1)
    measured = prompts_for(workload, 0)
    assert set(measured) == set(VOCABULARY)
    pool = WarmupPrompts(workload, 0, measured)
    pool.take(4)
    assert pool.overlapping == 4
    kinds = [w.kind for w in prompt_warnings(measured, pool)]
    assert kinds == ["duplicate_prompts", "warmup_prompts_overlap"]
