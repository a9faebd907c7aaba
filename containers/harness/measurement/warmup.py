"""Warmup: send batches until latencies settle, so the measured window sees a steady engine
(caches filled, kernels compiled, clocks up), not its start-up."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from camp_contract.models import WarmupInfo, WarmupSettings


def coefficient_of_variation(values: list[float]) -> float:
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean > 0 and len(values) >= 2 else float("inf")


def warm_up(send_batch: Callable[[], tuple[float, int]], settings: WarmupSettings) -> WarmupInfo:
    """Send batches (``send_batch`` returns its latency and how many requests it held) until the
    CV of the last ``window`` batch latencies is under ``cv_threshold`` — once at least
    ``min_requests`` requests went out — or ``max_requests`` requests were sent."""
    latencies: list[float] = []
    sent = 0
    cv: float | None = None
    while sent < settings.max_requests:
        latency, requests = send_batch()
        latencies.append(latency)
        sent += requests
        if len(latencies) >= settings.window and sent >= settings.min_requests:
            cv = coefficient_of_variation(latencies[-settings.window :])
            if cv < settings.cv_threshold:
                return WarmupInfo(n_requests=sent, converged=True, final_cv=cv)
    return WarmupInfo(n_requests=sent, converged=settings.max_requests == 0, final_cv=cv)
