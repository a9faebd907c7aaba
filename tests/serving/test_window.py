"""The window's figures and warnings from known request records (no server)."""

from __future__ import annotations

import math

import pytest

from harness.measurement.synthetic import SyntheticPower
from harness.serving.loadgen import LoadOutcome, LoadPlan
from harness.serving.openai_stream import RequestTiming
from harness.serving.window import in_flight_counter, serving_metrics, serving_warnings, tokens_emitted_in

PLAN = LoadPlan(arrival="constant", rate_rps=10.0, concurrency=None, warmup_s=1.0, duration_s=10.0, seed=0)
WINDOW = (1.0, 11.0)


def request(
    i: float, sent_after: float = 0.0, ttft: float = 0.1, tokens: int = 3, error: str | None = None
) -> RequestTiming:
    r = RequestTiming(request_id=int(i * 10), scheduled_s=i, sent_s=i + sent_after)
    if error:
        r.error, r.ended_s = error, i + sent_after
        return r
    r.first_token_s = i + sent_after + ttft
    r.itl_s = [0.05] * (tokens - 1)
    r.last_token_s = r.first_token_s + 0.05 * (tokens - 1)
    r.ended_s, r.output_tokens, r.input_tokens = r.last_token_s, tokens, 4
    return r


def outcome(requests: list[RequestTiming]) -> LoadOutcome:
    return LoadOutcome(requests, 0.0, WINDOW, WINDOW, 12.0)


def test_energy_is_divided_by_the_requests_completed_and_tokens_emitted_in_the_window() -> None:
    steady = [request(1.0 + k / 10) for k in range(100)]  # 10/s through the window
    carried_in = request(0.95)  # scheduled in warmup, finishes inside the window
    metrics = serving_metrics(outcome([carried_in, *steady]), PLAN, adjusted_j=198.0)
    assert metrics.requests_scheduled == 100
    # each takes 0.2 s: the last two of the window's end at 11.0 s and 11.1 s, after it; the
    # one carried in from warmup completes inside it
    assert metrics.requests_completed == 99
    assert metrics.energy_per_request_j == pytest.approx(2.0)
    assert metrics.achieved_rate_rps == pytest.approx(10.0)
    assert metrics.ttft.p50_s == pytest.approx(0.1) and metrics.itl.n == 200
    assert metrics.tpot.mean_s == pytest.approx(0.05)


def test_tokens_count_where_they_arrive() -> None:
    r = request(10.8)  # tokens at 10.9, 10.95, 11.0: the last one after the window
    assert tokens_emitted_in(r, WINDOW) == 2


def test_in_flight_counts_sent_and_not_yet_over() -> None:
    count = in_flight_counter([request(1.0), request(1.05)])
    assert [count(t) for t in (0.5, 1.0, 1.06, 1.22, 1.3)] == [0, 1, 2, 1, 0]


def test_a_lagging_generator_is_load_not_achieved_and_a_queueing_server_is_server_saturated() -> None:
    lagging = [request(1.0 + k / 10, sent_after=0.0 if k < 50 else 20.0) for k in range(100)]
    kinds = [
        w.kind for w in serving_warnings(outcome(lagging), PLAN, serving_metrics(outcome(lagging), PLAN, 1.0))
    ]
    assert "load_not_achieved" in kinds
    queued = [request(1.0 + k / 10, ttft=k / 5) for k in range(100)]  # sent on time, answered later and later
    metrics = serving_metrics(outcome(queued), PLAN, 1.0)
    kinds = [w.kind for w in serving_warnings(outcome(queued), PLAN, metrics)]
    assert kinds == ["server_saturated"] and metrics.achieved_rate_rps == pytest.approx(10.0)


def test_failed_requests_are_warned_and_left_out_of_the_latencies() -> None:
    requests = [request(2.0), request(3.0, error="HTTP 500: boom")]
    metrics = serving_metrics(outcome(requests), PLAN, 1.0)
    warnings = serving_warnings(outcome(requests), PLAN, metrics)
    assert metrics.requests_failed == 1 and metrics.ttft.n == 1
    assert [w.kind for w in warnings] == ["requests_failed"] and "HTTP 500" in warnings[0].message


def test_no_request_in_the_window_gives_undefined_ratios_not_zero() -> None:
    metrics = serving_metrics(outcome([]), PLAN, 5.0)
    assert math.isnan(metrics.energy_per_request_j) and math.isnan(metrics.ttft.p50_s)


def test_the_synthetic_source_draws_more_per_request_held_at_once() -> None:
    source = SyntheticPower(idle_w=40, busy_w=160, per_request_w=8)
    with source.busy(), source.busy(), source.busy():
        assert source.read().power_w == 160 + 2 * 8
    assert source.read().power_w == 40
