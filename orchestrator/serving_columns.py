"""A server-mode run as columns of the runs table: its load as driven, its latencies, its energy
per request and per output token over the measured window, and its goodput under the campaign's
SLO (from requests.parquet). Every name carries its unit: ``_s`` seconds, ``_j`` joules,
``_rps`` requests per second, ``_pct`` percent.

Goodput's columns (``goodput.NO_GOODPUT``) are added by the aggregation, which knows the SLO.
Offline runs have none of these columns (NaN where a campaign mixes both), so an offline
campaign's tables are as they were.
"""

from __future__ import annotations

import math
from pathlib import Path

from camp_contract import layout
from camp_contract.models import LatencyStats, RunResult, ServingMetrics
from orchestrator import goodput
from orchestrator.slo import ServiceLevel

LATENCIES = ("ttft", "tpot", "itl", "e2e")  # ServingMetrics' LatencyStats, by field name
PERCENTILES = ("p50", "p90", "p99")
# Summarised per experiment (mean and interval over cycles), after the offline ones: the load
# achieved, each latency percentile, goodput and attainment. Energy per request and per output
# token are the offline columns' own names (see ``serving_columns``).
SERVING_METRICS = (
    "achieved_rate_rps",
    *(f"{latency}_{p}_s" for latency in LATENCIES for p in PERCENTILES),
    "goodput_rps",
    "slo_attainment_pct",
)
INT_COLUMNS = (
    "requests_scheduled",
    "requests_sent",
    "requests_completed",
    "requests_failed",
    "output_tokens_in_window",
    "max_in_flight",
)
FLOAT_COLUMNS = (
    "target_rate_rps",
    "serving_concurrency",
    "serving_window_s",
    "serving_warmup_s",
    "completed_rate_rps",
    "send_lag_p50_s",
    "send_lag_p99_s",
    "send_lag_max_s",
    *(m for m in SERVING_METRICS if m not in goodput.NO_GOODPUT),
)


def _latency_columns(name: str, stats: LatencyStats) -> dict[str, float]:
    return {f"{name}_{p}_s": getattr(stats, f"{p}_s") for p in PERCENTILES}


def serving_columns(result: RunResult) -> dict[str, object]:
    """The run's serving columns (empty for an offline run).

    ``energy_per_request_j`` and ``energy_per_output_token_j`` are the serving window's: its
    adjusted energy over the requests completed and the tokens emitted in it, the figures a
    server-mode run is compared on."""
    serving = result.serving
    if serving is None:
        return {}
    row: dict[str, object] = {
        "arrival": serving.arrival,
        "target_rate_rps": serving.target_rate_rps if serving.target_rate_rps is not None else math.nan,
        "serving_concurrency": serving.concurrency if serving.concurrency is not None else math.nan,
        "serving_warmup_s": serving.warmup_s,
        "serving_window_s": serving.window_s,
        "requests_scheduled": serving.requests_scheduled,
        "requests_sent": serving.requests_sent,
        "requests_completed": serving.requests_completed,
        "requests_failed": serving.requests_failed,
        "achieved_rate_rps": serving.achieved_rate_rps,
        "completed_rate_rps": serving.completed_rate_rps,
        "output_tokens_in_window": serving.output_tokens_in_window,
        "max_in_flight": serving.max_in_flight,
        "send_lag_p50_s": serving.send_lag_p50_s,
        "send_lag_p99_s": serving.send_lag_p99_s,
        "send_lag_max_s": serving.send_lag_max_s,
        "energy_per_request_j": serving.energy_per_request_j,
        "energy_per_output_token_j": serving.energy_per_output_token_j,
    }
    for name in LATENCIES:
        row.update(_latency_columns(name, getattr(serving, name)))
    return row


def goodput_columns(
    serving: ServingMetrics | None, window: tuple[float, float], run_dir: Path, slo: ServiceLevel | None
) -> dict[str, float]:
    """The run's goodput, attainment and good requests under ``slo``, from its requests.parquet
    (``window``: the result's measured window); NaN without an SLO. Raises
    ``goodput.RequestsUnreadable`` naming the file."""
    if slo is None or serving is None:
        return dict(goodput.NO_GOODPUT)
    requests = goodput.read_requests(layout.RunFiles(run_dir).requests)
    return goodput.run_goodput(requests, window, serving.window_s, slo).columns()
