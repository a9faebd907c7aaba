"""Server-mode run directories with known numbers, as the harness leaves them: spec.json,
result.json with ``serving`` (contract models) and requests.parquet (``requests_table.SCHEMA``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from camp_contract import layout
from camp_contract import requests_table as rq
from camp_contract.models import LatencyStats, RunSpec, ServingMetrics, Workload
from tests.aggregate.helpers import write_run
from tests.factories import make_result

WINDOW = (10.0, 20.0)  # the measured window on the requests' clock
OUTPUT_TOKENS = 11  # so a request's TPOT is (last − first) / 10


@dataclass(frozen=True)
class Req:
    """One request: its phase, send time, TTFT and TPOT (None: it failed)."""

    phase: str
    sent_s: float
    ttft_s: float | None
    tpot_s: float = 0.01

    def row(self, request_id: int) -> dict[str, Any]:
        failed = self.ttft_s is None
        first = None if failed else self.sent_s + self.ttft_s
        last = None if first is None else first + self.tpot_s * (OUTPUT_TOKENS - 1)
        return {
            rq.REQUEST_ID: request_id,
            rq.PHASE: self.phase,
            rq.SCHEDULED_S: self.sent_s,
            rq.SENT_S: self.sent_s,
            rq.FIRST_TOKEN_S: first,
            rq.LAST_TOKEN_S: last,
            rq.INPUT_TOKENS: 8,
            rq.OUTPUT_TOKENS: 0 if failed else OUTPUT_TOKENS,
            rq.ITL_S: [] if failed else [self.tpot_s] * (OUTPUT_TOKENS - 1),
            rq.ERROR: "HTTP 500" if failed else None,
        }


def write_requests(run_dir: Path, requests: list[Req]) -> None:
    rows = [r.row(i) for i, r in enumerate(requests)]
    table = pa.Table.from_pylist(rows, schema=rq.SCHEMA)
    pq.write_table(table, layout.RunFiles(run_dir).requests)


def _stats(value: float, n: int) -> LatencyStats:
    return LatencyStats(n=n, mean_s=value, p50_s=value * 0.8, p90_s=value, p99_s=value * 1.3)


def serving_spec(
    exp_id: str, cycle: int, *, rate: float | None = None, concurrency: int | None = None
) -> RunSpec:
    workload = Workload(
        mode="server", request_rate=rate, concurrency=concurrency, duration_s=10.0, warmup_s=2.0
    )
    return RunSpec(
        campaign="serving", exp_id=exp_id, cycle=cycle, backend="stub", model="m", workload=workload
    )


def serving_metrics(
    spec: RunSpec, *, ttft_p90_s: float, energy_per_request_j: float, achieved_rps: float
) -> ServingMetrics:
    rate = spec.workload.request_rate
    return ServingMetrics(
        arrival=spec.workload.arrival_process or "poisson",
        target_rate_rps=rate,
        concurrency=spec.workload.concurrency,
        warmup_s=2.0,
        window_s=WINDOW[1] - WINDOW[0],
        requests_scheduled=40,
        requests_sent=40,
        requests_completed=38,
        requests_failed=1,
        achieved_rate_rps=achieved_rps,
        completed_rate_rps=achieved_rps * 0.95,
        output_tokens_in_window=38 * OUTPUT_TOKENS,
        max_in_flight=8,
        send_lag_p50_s=0.0001,
        send_lag_p99_s=0.001,
        send_lag_max_s=0.002,
        ttft=_stats(ttft_p90_s, 40),
        tpot=_stats(0.01, 40),
        itl=_stats(0.01, 400),
        e2e=_stats(ttft_p90_s + 0.1, 40),
        energy_per_request_j=energy_per_request_j,
        energy_per_output_token_j=energy_per_request_j / OUTPUT_TOKENS,
    )


def write_serving_run(
    campaign_dir: Path,
    spec: RunSpec,
    *,
    ttft_p90_s: float,
    energy_per_request_j: float,
    achieved_rps: float,
    requests: list[Req] | None = None,
) -> Path:
    serving = serving_metrics(
        spec, ttft_p90_s=ttft_p90_s, energy_per_request_j=energy_per_request_j, achieved_rps=achieved_rps
    )
    result = make_result(spec, window=WINDOW, serving=serving, requests=())
    run_dir = write_run(campaign_dir, spec, result)
    if requests is not None:
        write_requests(run_dir, requests)
    return run_dir


def window_requests(n: int, ttft_s: float, *, good: int | None = None) -> list[Req]:
    """``n`` requests sent evenly through the window, the first ``good`` (default all) with
    TTFT ``ttft_s`` and the rest ten times slower."""
    good = n if good is None else good
    step = (WINDOW[1] - WINDOW[0]) / n
    return [Req("measured", WINDOW[0] + i * step, ttft_s if i < good else 10 * ttft_s) for i in range(n)]


def write_load_sweep(
    campaign_dir: Path, rates: list[float], *, cycles: int = 3, slow_from: float = 16.0
) -> dict[float, str]:
    """One stub experiment per rate, ``cycles`` cycles each: latency and energy per request
    grow with the rate; from ``slow_from`` only 12 of 20 window requests are within 0.5 s.
    Returns the exp_id of each rate."""
    ids = {}
    for k, rate in enumerate(rates):
        exp_id = f"rate{k}"
        ids[rate] = exp_id
        finite = rate if math.isfinite(rate) else 64.0
        for cycle in range(cycles):
            spec = serving_spec(exp_id, cycle, rate=rate)
            overloaded = rate >= slow_from
            write_serving_run(
                campaign_dir,
                spec,
                ttft_p90_s=0.05 * finite * (1 + 0.05 * cycle),
                energy_per_request_j=2.0 + 0.1 * finite + 0.05 * cycle,
                achieved_rps=min(finite, 20.0) * (1 - 0.01 * cycle),
                requests=window_requests(20, 0.1, good=12 if overloaded else 20),
            )
    return ids
