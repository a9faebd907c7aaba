"""A serving run's figures, from the load generator's records and the window's marks
(docs/measurement.md, "The serving window").

A request is the window's when it was *scheduled* in it; its latencies are timed from its send
(send lag, the generator's own error, is reported apart). Energy per request divides the
window's adjusted energy by the requests *completed* in the window, and per output token by the
tokens *emitted* in it, whatever their scheduled time: in a steady stream, work carried into the
window by earlier requests balances work carried out of it by later ones."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Sequence
from itertools import accumulate

from camp_contract.models import LatencyStats, Metrics, RunWarning, ServingMetrics
from camp_contract.timeseries import PHASE_DRAIN, PHASE_MEASURED, PHASE_WARMUP
from harness.serving.loadgen import LoadOutcome, LoadPlan
from harness.serving.openai_stream import RequestTiming

GENERATOR_SHORTFALL = 0.9  # sends below this share of the window's schedule: the generator lagged
SERVER_SHORTFALL = 0.9  # completions below this share of the window's sends: the server queued
MIN_SHORTFALL_REQUESTS = 5  # fewer missing requests than this is an edge effect, not a shortfall


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def latency_stats(values: Sequence[float]) -> LatencyStats:
    """Mean and p50/p90/p99 (NaN where there is nothing to measure)."""
    return LatencyStats(
        n=len(values),
        mean_s=statistics.fmean(values) if values else math.nan,
        p50_s=percentile(values, 50),
        p90_s=percentile(values, 90),
        p99_s=percentile(values, 99),
    )


def phase_of(t: float, window: tuple[float, float]) -> str:
    if t < window[0]:
        return PHASE_WARMUP
    return PHASE_MEASURED if t < window[1] else PHASE_DRAIN


def token_times(r: RequestTiming) -> list[float]:
    """When each streamed chunk of ``r`` arrived."""
    if r.first_token_s is None:
        return []
    return list(accumulate(r.itl_s, initial=r.first_token_s))


def tokens_emitted_in(r: RequestTiming, window: tuple[float, float]) -> float:
    """Output tokens of ``r`` that arrived inside ``window`` (a chunk of several tokens counts
    for its share)."""
    times = token_times(r)
    if not times or not r.output_tokens:
        return 0.0
    inside = sum(window[0] <= t < window[1] for t in times)
    return inside * r.output_tokens / len(times)


def in_flight_counter(requests: Sequence[RequestTiming]) -> Callable[[float], int]:
    """Requests sent and not yet over at a time (the timeseries' ``requests_in_flight``)."""
    sent = sorted(r.sent_s for r in requests if r.sent_s is not None)
    ended = sorted(r.ended_s for r in requests if r.sent_s is not None and r.ended_s is not None)
    return lambda t: bisect.bisect_right(sent, t) - bisect.bisect_right(ended, t)


def _max_in_flight(requests: Sequence[RequestTiming], window: tuple[float, float]) -> int:
    count = in_flight_counter(requests)
    starts = [r.sent_s for r in requests if r.sent_s is not None and window[0] <= r.sent_s < window[1]]
    return max([count(window[0]), *(count(t) for t in starts)])


def _tpot(r: RequestTiming) -> float | None:
    if r.first_token_s is None or r.last_token_s is None or r.output_tokens < 2:
        return None
    return (r.last_token_s - r.first_token_s) / (r.output_tokens - 1)


def serving_metrics(outcome: LoadOutcome, plan: LoadPlan, adjusted_j: float) -> ServingMetrics:
    window = outcome.window
    length = window[1] - window[0]
    scheduled = [
        r for r in outcome.requests if phase_of(r.scheduled_s, outcome.schedule_window) == PHASE_MEASURED
    ]
    done = [r for r in scheduled if r.ok and r.sent_s is not None]
    sent_in = [r for r in outcome.requests if r.sent_s is not None and window[0] <= r.sent_s < window[1]]
    completed_in = [
        r for r in outcome.requests if r.ok and window[0] <= (r.last_token_s or -math.inf) < window[1]
    ]
    tokens = sum(tokens_emitted_in(r, window) for r in outcome.requests)
    lags = [r.sent_s - r.scheduled_s for r in scheduled if r.sent_s is not None]
    tpots = [t for t in map(_tpot, done) if t is not None]
    return ServingMetrics(
        arrival=plan.arrival,
        target_rate_rps=plan.rate_rps,
        concurrency=plan.in_flight,
        warmup_s=plan.warmup_s,
        window_s=length,
        requests_scheduled=len(scheduled),
        requests_sent=sum(r.sent_s is not None for r in scheduled),
        requests_completed=len(completed_in),
        requests_failed=sum(r.error is not None for r in scheduled),
        achieved_rate_rps=len(sent_in) / length if length > 0 else math.nan,
        completed_rate_rps=len(completed_in) / length if length > 0 else math.nan,
        output_tokens_in_window=round(tokens),
        max_in_flight=_max_in_flight(outcome.requests, window),
        send_lag_p50_s=percentile(lags, 50),
        send_lag_p99_s=percentile(lags, 99),
        send_lag_max_s=max(lags) if lags else math.nan,
        ttft=latency_stats([r.first_token_s - r.sent_s for r in done if r.first_token_s and r.sent_s]),
        tpot=latency_stats(tpots),
        itl=latency_stats([gap for r in done for gap in r.itl_s]),
        e2e=latency_stats([r.last_token_s - r.sent_s for r in done if r.last_token_s and r.sent_s]),
        energy_per_request_j=adjusted_j / len(completed_in) if completed_in else math.nan,
        energy_per_output_token_j=adjusted_j / tokens if tokens else math.nan,
    )


def offline_shaped_metrics(
    outcome: LoadOutcome,
    serving: ServingMetrics,
    energy_j: float,
    adjusted_j: float,
    avg_w: float,
    peak_w: float,
    load_s: float,
    load_j: float,
) -> Metrics:
    """The run's ``Metrics`` as every result has them, filled from the window: requests are those
    completed in it, output tokens those emitted in it, latencies end to end."""
    window = outcome.window
    completed_in = [
        r for r in outcome.requests if r.ok and window[0] <= (r.last_token_s or -math.inf) < window[1]
    ]
    length, n, tokens = serving.window_s, serving.requests_completed, serving.output_tokens_in_window
    return Metrics(
        n_requests=n,
        input_tokens=sum(r.input_tokens for r in completed_in),
        output_tokens=tokens,
        duration_s=length,
        throughput_tokens_per_s=tokens / length if length > 0 else math.nan,
        requests_per_s=serving.completed_rate_rps,
        latency_mean_s=serving.e2e.mean_s,
        latency_p50_s=serving.e2e.p50_s,
        latency_p90_s=serving.e2e.p90_s,
        latency_p99_s=serving.e2e.p99_s,
        energy_j=energy_j,
        energy_adjusted_j=adjusted_j,
        energy_per_output_token_j=serving.energy_per_output_token_j,
        energy_per_request_j=serving.energy_per_request_j,
        avg_power_w=avg_w,
        peak_power_w=peak_w,
        load_time_s=load_s,
        load_energy_j=load_j,
    )


def serving_warnings(outcome: LoadOutcome, plan: LoadPlan, serving: ServingMetrics) -> list[RunWarning]:
    """Where the load was not what was asked, and why: the generator's own lag (or its request
    cap) is ``load_not_achieved``; a server that could not keep up (requests queued, shown in
    TTFT) is ``server_saturated``; failed requests are ``requests_failed``."""
    warnings = []
    # sends inside the window (of any scheduled time): what the server was offered in it
    window = outcome.window
    sent = sum(r.sent_s is not None and window[0] <= r.sent_s < window[1] for r in outcome.requests)
    asked = serving.requests_scheduled
    if outcome.capped:
        warnings.append(
            RunWarning(
                kind="load_not_achieved",
                message=f"the load generator stopped at its cap of {plan.max_requests} requests "
                "before the window ended: the window's load is lower than asked",
            )
        )
    elif (
        plan.open_loop
        and asked
        and sent < GENERATOR_SHORTFALL * asked
        and asked - sent >= MIN_SHORTFALL_REQUESTS
    ):
        warnings.append(
            RunWarning(
                kind="load_not_achieved",
                message=f"the load generator sent {sent} of the {asked} requests scheduled in the "
                f"window (send lag p99 {serving.send_lag_p99_s:.3g} s): it fell behind its own "
                "schedule, so the server saw less load than asked",
            )
        )
    completed = serving.requests_completed
    if (
        plan.open_loop
        and sent
        and completed < SERVER_SHORTFALL * sent
        and sent - completed >= MIN_SHORTFALL_REQUESTS
    ):
        warnings.append(
            RunWarning(
                kind="server_saturated",
                message=f"the server completed {completed} requests in the window while {sent} were "
                f"sent on schedule: requests queued (TTFT p90 {serving.ttft.p90_s:.3g} s), the "
                "load is beyond what it serves steadily and the window is no steady state",
            )
        )
    failed = [
        r
        for r in outcome.requests
        if phase_of(r.scheduled_s, outcome.schedule_window) == PHASE_MEASURED and r.error
    ]
    if failed:
        warnings.append(
            RunWarning(
                kind="requests_failed",
                message=f"{len(failed)} of the window's {asked} requests failed (first: "
                f"{failed[0].error}): they count in no latency, energy per request is over the "
                "completed ones",
            )
        )
    return warnings
