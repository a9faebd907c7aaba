"""Server mode in a campaign, before anything runs: the load every point must name, how a point's
load reads in its label, and what ``camp plan`` says about the serving window and the SLO."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from camp_contract.backends import backend_entries
from camp_contract.models import Workload
from orchestrator.campaign_types import WORKLOAD_PREFIX
from orchestrator.config_errors import ConfigProblem

if TYPE_CHECKING:
    from orchestrator.campaign import Campaign

# The workload fields that decide whether a point names its load.
_LOAD_FIELDS = ("mode", "arrival", "request_rate", "concurrency")
LOAD_COLUMNS = ("workload.request_rate", "workload.concurrency")  # the load axis, as config columns


def _axes(campaign: Campaign, backend: str) -> dict[str, list[Any]]:
    """The load fields' values over the backend's grid (its own axis wins, as in expansion)."""
    grid = {**campaign.grid, **campaign.backends[backend].grid}
    given = campaign.workload.model_dump()
    return {
        name: grid.get(WORKLOAD_PREFIX + name, [given.get(name)])  # the grid's, else the workload's
        for name in _LOAD_FIELDS
    }


def server_load_problems(campaign: Campaign) -> list[ConfigProblem]:
    """A server-mode point that names no request rate and no concurrency cannot run: said once,
    at load, rather than as one rejected point per grid value."""
    for backend in campaign.backends:
        axes = _axes(campaign, backend)
        for values in itertools.product(*axes.values()):
            fields = {k: v for k, v in zip(axes, values, strict=True) if v is not None}
            try:
                workload = Workload.model_validate(fields)
            except ValidationError:
                continue  # expansion rejects this point with its reason
            missing = workload.missing_server_load()
            if missing is not None:
                return [
                    ConfigProblem(
                        ("workload",),
                        missing,
                        "give it in workload, or sweep it in grid, e.g. grid: {workload.request_rate: "
                        "[1, 4, 16, inf]} or grid: {workload.concurrency: [1, 8, 64]}",
                    )
                ]
    return []


def unserved_reason(backend: str) -> str:
    """Why a server-mode point of ``backend`` is rejected (its registry entry has ``serves`` False)."""
    serving = ", ".join(e.name for e in backend_entries() if e.serves) or "none registered"
    return (
        f"{backend} has no server in camp; workload.mode server runs on a backend that starts an "
        f"OpenAI-compatible server ({serving}), or run {backend} with workload.mode offline"
    )


def rate_text(rate: float) -> str:
    """``16/s``, ``0.5/s`` or ``inf`` (the saturation point: ``n_requests`` kept in flight)."""
    return "inf" if math.isinf(rate) else f"{rate:g}/s"


def load_text(request_rate: float | None, concurrency: float | None) -> str:
    """A load as every table, label and plot of camp writes it: ``rate=16/s``, ``rate=inf`` or
    ``concurrency=8``; empty without either."""
    if request_rate is not None and not math.isnan(request_rate):
        return f"rate={rate_text(request_rate)}"
    if concurrency is not None and not math.isnan(concurrency):
        return f"concurrency={int(concurrency)}"
    return ""


def load_label(workload: Workload) -> str:
    """A server-mode point's load as its label shows it (``load_text``); empty offline."""
    if workload.mode != "server":
        return ""
    return load_text(workload.request_rate, workload.concurrency)


def _arrival_text(arrival: str) -> str:
    if arrival == "concurrency":
        return "closed loop (a fixed number of requests in flight)"
    return f"open loop, {arrival} arrivals"


def plan_lines(campaign: Campaign) -> list[str]:
    """What ``camp plan`` says about server mode: the window, the arrival, the loads and the SLO
    (nothing for an offline campaign)."""
    workload = campaign.workload
    if workload.mode != "server" or workload.duration_s is None or workload.warmup_s is None:
        return []
    grids = [campaign.grid, *(section.grid for section in campaign.backends.values())]
    rates = [rate_text(float(v)) for g in grids for v in g.get(WORKLOAD_PREFIX + "request_rate", [])]
    concurrencies = [str(v) for g in grids for v in g.get(WORKLOAD_PREFIX + "concurrency", [])]
    loads = [*dict.fromkeys(rates), *dict.fromkeys(concurrencies)]
    closed = workload.concurrency is not None or (concurrencies and not rates)
    arrival = workload.arrival or ("concurrency" if closed else "poisson")
    lines = [
        f"server mode: {_arrival_text(arrival)}; warmup {workload.warmup_s:g} s (not measured), then a "
        f"measured window of {workload.duration_s:g} s; the drain after it is not measured",
    ]
    if workload.request_rate is not None:
        lines.append(f"  request rate: {rate_text(workload.request_rate)}")
    if workload.concurrency is not None:
        lines.append(f"  concurrency: {workload.concurrency} requests in flight")
    if loads:
        lines.append(f"  loads swept: {', '.join(loads)}")
    if "inf" in rates or (workload.request_rate is not None and math.isinf(workload.request_rate)):
        lines.append(
            f"  rate inf: the saturation point, {workload.n_requests} requests (n_requests) sent at once "
            "and each replaced as it finishes; n_requests at least the server's batch limit keeps it full"
        )
    if campaign.slo is not None:
        lines.append(
            f"  SLO: {campaign.slo.describe()} (goodput counts the requests within it; host only, "
            "changing it re-aggregates without re-running)"
        )
    else:
        lines.append("  no slo: no goodput (add slo: {ttft_p90_s: …, tpot_p90_s: …})")
    return lines
