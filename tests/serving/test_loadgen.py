"""The load generator against the stub's server: open loop, closed loop, bursts, the schedule's
statistics, and the loopback rule."""

from __future__ import annotations

import asyncio
import math
import statistics
from itertools import islice
from typing import Any

import pytest
from scipy import stats

from harness.serving.arrivals import arrival_offsets
from harness.serving.handle import healthy
from harness.serving.loadgen import LoadPlan, drive
from harness.serving.loopback import NotLoopback, require_loopback
from harness.serving.openai_stream import completion_body, encode_body
from harness.serving.window import serving_metrics
from tests.serving.stub_servers import stub_server

OUTPUT_TOKENS = 5


BODY = encode_body(completion_body("stub", "a b c d", OUTPUT_TOKENS, fixed_length=True, seed=0))


def body(warmup: bool) -> bytes:
    return BODY


def plan(**fields: Any) -> LoadPlan:
    defaults: dict[str, Any] = dict(
        arrival="constant",
        rate_rps=None,
        concurrency=None,
        warmup_s=0.0,
        duration_s=0.5,
        seed=0,
        drain_limit_s=20,
    )
    return LoadPlan(**{**defaults, **fields})


def test_a_server_slower_than_the_load_queues_in_ttft_not_in_a_lower_arrival_rate() -> None:
    # one request at a time, 5 steps of 10 ms: the server serves ~20 requests/s
    with stub_server(max_batch=1, step_s=0.01) as server:
        light = asyncio.run(drive(server.base_url, plan(rate_rps=4.0, duration_s=1.0), body))
        heavy = asyncio.run(drive(server.base_url, plan(rate_rps=80.0), body))
    quiet = serving_metrics(light, plan(rate_rps=4.0), 1.0)
    loaded = serving_metrics(heavy, plan(rate_rps=80.0), 1.0)
    # the arrivals kept their schedule: 80/s asked, 80/s sent, though 4× the server's capacity
    assert loaded.requests_scheduled == 40 and loaded.requests_sent == 40
    assert loaded.achieved_rate_rps == pytest.approx(80.0, rel=0.1)
    assert loaded.send_lag_p99_s < 0.05
    # ...and the queue is in the time to first token, growing through the window
    assert loaded.ttft.p90_s > 10 * quiet.ttft.p50_s
    assert loaded.requests_completed < loaded.requests_sent / 2
    assert all(r.ok for r in heavy.requests)  # every one answered in the drain


def test_closed_loop_keeps_the_concurrency_in_flight() -> None:
    with stub_server(max_batch=8, step_s=0.005) as server:
        outcome = asyncio.run(
            drive(server.base_url, plan(arrival="concurrency", concurrency=3, duration_s=0.4), body)
        )
    metrics = serving_metrics(outcome, plan(arrival="concurrency", concurrency=3), 1.0)
    assert metrics.max_in_flight == 3
    assert metrics.requests_sent == metrics.requests_scheduled  # each one sent as its slot frees
    assert metrics.requests_completed >= 3
    assert all(
        r.output_tokens == OUTPUT_TOKENS and len(r.itl_s) == OUTPUT_TOKENS - 1 for r in outcome.requests
    )


def test_an_infinite_rate_saturates_the_server_through_the_window() -> None:
    # batch 4, 5 tokens of ~2.6 ms: the server serves ~250 requests/s at most
    with stub_server(max_batch=4, step_s=0.002) as server:
        saturated = plan(rate_rps=math.inf, warmup_s=0.2, duration_s=0.6, burst_requests=6)
        below = plan(rate_rps=50.0, arrival="poisson", warmup_s=0.2, duration_s=0.6)
        at_inf = asyncio.run(drive(server.base_url, saturated, body))
        at_50 = asyncio.run(drive(server.base_url, below, body))
    # as vllm bench serve --request-rate inf: the first requests all go at once...
    first = at_inf.requests[:6]
    assert len({r.scheduled_s for r in first}) == 1 and all(r.warmup for r in first)
    # ...and each is replaced as it finishes, so the queue never empties: the window sees the
    # server's full throughput, never less than at any finite rate it can serve
    metrics = serving_metrics(at_inf, saturated, 1.0)
    assert metrics.max_in_flight == 6 and metrics.concurrency == 6 and metrics.target_rate_rps == math.inf
    assert metrics.requests_completed > 30
    assert metrics.achieved_rate_rps > 2 * serving_metrics(at_50, below, 1.0).achieved_rate_rps
    assert all(r.ok for r in at_inf.requests)


def test_the_request_cap_stops_the_schedule() -> None:
    with stub_server(max_batch=16, step_s=0.001) as server:
        outcome = asyncio.run(drive(server.base_url, plan(rate_rps=200.0, max_requests=10), body))
    assert outcome.capped and len(outcome.requests) == 10


def test_requests_left_at_the_drain_limit_are_cancelled_and_failed() -> None:
    with stub_server(max_batch=1, step_s=0.05) as server:
        outcome = asyncio.run(
            drive(server.base_url, plan(rate_rps=20.0, duration_s=0.2, drain_limit_s=0.1), body)
        )
    assert outcome.unfinished > 0
    assert (
        sum(r.error is not None and "drain limit" in r.error for r in outcome.requests) == outcome.unfinished
    )


def test_poisson_gaps_are_exponential_at_the_rate_and_fixed_by_the_seed() -> None:
    rate = 50.0
    offsets = list(islice(arrival_offsets("poisson", rate, seed=7), 5000))
    gaps = [b - a for a, b in zip([0.0, *offsets[:-1]], offsets, strict=True)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / rate, rel=0.05)  # an exponential's sd is its mean
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > 0.01
    assert list(islice(arrival_offsets("poisson", rate, seed=7), 100)) == offsets[:100]
    assert list(islice(arrival_offsets("poisson", rate, seed=8), 100)) != offsets[:100]


def test_constant_arrivals_are_evenly_spaced() -> None:
    assert list(islice(arrival_offsets("constant", 4.0, seed=0), 4)) == [0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8000", "http://localhost.example.com:80", "http://192.168.1.2:8000", "http://[::2]:80"],
)
def test_traffic_to_any_host_but_127_0_0_1_is_refused(url: str) -> None:
    with pytest.raises(NotLoopback, match=r"127\.0\.0\.1 only"):
        require_loopback(url)
    with pytest.raises(NotLoopback):
        asyncio.run(drive(url, plan(rate_rps=1.0), body))
    with pytest.raises(NotLoopback):
        healthy(url)
