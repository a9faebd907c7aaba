"""The counter's update step is read from the trace: the spacing of the instants it changes."""

from __future__ import annotations

import itertools
import random

import pytest

from harness.measurement.counter_step import change_instants, estimate_counter_step
from harness.measurement.power import DeviceReading, Reading


def stepped_trace(step_s: float, sample_hz: float, seconds: float, jitter_s: float = 0.0) -> list[Reading]:
    """A 200 W device whose counter is refreshed every ``step_s`` (± jitter), sampled at ``sample_hz``."""
    rng = random.Random(0)
    updates = [0.0]
    while updates[-1] < seconds:
        updates.append(updates[-1] + step_s + rng.uniform(-jitter_s, jitter_s))
    readings = []
    for i in range(int(seconds * sample_hz)):
        t = i / sample_hz
        last_update = max(u for u in updates if u <= t)
        readings.append(Reading(t, (DeviceReading(power_w=200.0, energy_j=200.0 * last_update),)))
    return readings


def test_a_100ms_counter_sampled_at_100hz_is_resolved() -> None:
    step = estimate_counter_step(stepped_trace(0.1, 100, 3.0, jitter_s=0.005))
    assert step.resolved
    assert step.step_s is not None and abs(step.step_s - 0.1) < 0.015
    assert step.n_changes >= 25


def test_a_counter_faster_than_the_sampler_is_only_bounded() -> None:
    step = estimate_counter_step(stepped_trace(0.01, 10, 3.0))
    assert not step.resolved
    assert step.step_s is not None and abs(step.step_s - 0.1) < 1e-9  # the sample period: an upper bound


def test_no_counter_or_a_frozen_one_gives_no_estimate() -> None:
    no_counter = [Reading(i / 10, (DeviceReading(power_w=50.0, energy_j=None),)) for i in range(30)]
    frozen = [Reading(i / 10, (DeviceReading(power_w=50.0, energy_j=7.0),)) for i in range(30)]
    for trace in (no_counter, frozen, []):
        step = estimate_counter_step(trace)
        assert step.step_s is None and not step.resolved


def test_a_counter_that_moves_between_every_pair_of_a_few_samples_is_bounded_by_their_spacing() -> None:
    # a continuous counter (the synthetic source's), read only three times: too few changes to
    # time a step, but every pair saw one, so the step is at most the spacing
    trace = [Reading(t, (DeviceReading(power_w=100.0, energy_j=100.0 * t),)) for t in (0.0, 0.05, 0.1)]
    step = estimate_counter_step(trace)
    assert not step.resolved and step.step_s == pytest.approx(0.05) and step.n_changes == 2


def test_a_sampler_beating_against_the_counter_at_its_own_rate_does_not_resolve_it() -> None:
    # 10 Hz samples landing right on the updates of a ~100 ms counter (±10 ms): some pairs see no
    # update and some two, so the changes they show are often 200 ms apart — not a resolved step
    rng = random.Random(1)
    updates = [k * 0.1 + rng.uniform(-0.01, 0.01) for k in range(1, 80)]
    trace = []
    for i in range(75):
        t = i / 10
        done = sum(1 for u in updates if u <= t)
        trace.append(Reading(t, (DeviceReading(power_w=200.0, energy_j=20.0 * done),)))
    spacing = [b - a for a, b in itertools.pairwise(change_instants(trace, 0))]
    assert max(spacing) >= 0.2 and len(spacing) < 0.9 * len(trace)  # the beat is there
    step = estimate_counter_step(trace)
    assert not step.resolved and step.step_s is not None and step.step_s >= 0.09
