"""One server-mode run (``workload.mode: server``), in the order the measurement needs:

preflight → model files → settle gate → the engine's server started and waited on until healthy
(the load: timed, metered) → idle baseline with the server up and idle → one stream of
requests: warmup (``warmup_s``, warmup prompts) → measured window (``duration_s``) → drain (not
measured, bounded) → server stopped → energy of the window → requests.parquet, timeseries.parquet
and, last, result.json (docs/measurement.md, "The serving window"). The server is stopped on
every path out, failures included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from camp_contract import progress
from camp_contract.atomic import atomic_write_text
from camp_contract.layout import RunFiles, baseline_cache_dir
from camp_contract.models import BaselineInfo, RunResult, RunSpec, RunWarning, SettleInfo, WarmupInfo
from camp_contract.timeseries import (
    PHASE_BASELINE,
    PHASE_DRAIN,
    PHASE_LOAD,
    PHASE_MEASURED,
    PHASE_SETTLE,
    PHASE_WARMUP,
)
from harness.backends import get_backend
from harness.backends.base import ServingBackend
from harness.environment import snapshot
from harness.measurement.baseline import cached_baseline, idle_baseline
from harness.measurement.by_source import energy_by_source
from harness.measurement.energy import energy_info, window_stats
from harness.measurement.estimator import estimate_window
from harness.measurement.power import Reading
from harness.measurement.sampler import Sampler
from harness.measurement.sampling import sampling_info
from harness.measurement.settle import settle_gate, temperatures_at
from harness.model_files import fetch_model
from harness.provenance import current_provenance
from harness.run import VISIBLE_DEVICE_VARIABLES, RunError, measurement_warnings, preflight
from harness.serving.handle import ServerFailed, ServerHandle
from harness.serving.loadgen import LoadOutcome, LoadPlan, drive
from harness.serving.openai_stream import completion_body, encode_body
from harness.serving.request_bodies import RequestBodies
from harness.serving.requests_file import write_requests
from harness.serving.window import (
    in_flight_counter,
    offline_shaped_metrics,
    serving_metrics,
    serving_warnings,
)
from harness.timeseries import write_timeseries
from harness.workload import WarmupPrompts, prompt_warnings, prompts_for

HEALTH_TIMEOUT_S = 1800.0  # a large model's load (and a TensorRT engine build) takes minutes
DRAIN_LIMIT_MIN_S = 30.0
DRAIN_LIMIT_MAX_S = 600.0


def load_plan(spec: RunSpec) -> LoadPlan:
    """The load the spec asks for; the drain may last as long as the window, within 30 s–10 min."""
    workload = spec.workload
    arrival = workload.arrival_process
    assert arrival is not None and workload.duration_s is not None and workload.warmup_s is not None
    return LoadPlan(
        arrival=arrival,
        rate_rps=workload.request_rate if arrival != "concurrency" else None,
        concurrency=workload.concurrency if arrival == "concurrency" else None,
        warmup_s=workload.warmup_s,
        duration_s=workload.duration_s,
        seed=spec.seed,
        burst_requests=workload.n_requests,
        drain_limit_s=min(max(DRAIN_LIMIT_MIN_S, workload.duration_s), DRAIN_LIMIT_MAX_S),
    )


def start_server(backend: object, spec: RunSpec, source: Any) -> ServerHandle:
    if not isinstance(backend, ServingBackend):
        raise RunError(
            f"backend {spec.backend} cannot serve (workload.mode: server): it has no server; "
            "use workload.mode: offline for it"
        )
    return backend.start_server(spec, source.busy)


def server_baseline(spec: RunSpec, source: Any, trace: list[Reading], settled: bool) -> BaselineInfo:
    """The idle baseline with the server up and idle: what the GPUs draw while serving nothing
    (memory held, contexts open). Measured in every run (a bare-idle cache is not it)."""
    baseline = idle_baseline(
        source,
        spec.measurement.baseline,
        spec.measurement.sample_hz,
        None,
        hold_context=contextlib.nullcontext,  # the server holds its own contexts
        trace=trace,
        settled=settled,
        extras=spec.measurement.extra_power_sources,
    )
    if baseline.method in ("bare_idle", "cuda_context"):
        baseline = baseline.model_copy(update={"method": "server_idle"})
    return baseline


def run_serving_experiment(spec: RunSpec, out_dir: Path, results_root: Path | None = None) -> RunResult:
    """Run server-mode ``spec`` and write its result, timeseries and requests into ``out_dir``."""
    visible_as_given = {k: os.environ[k] for k in VISIBLE_DEVICE_VARIABLES if k in os.environ}
    started_at = datetime.now(timezone.utc).isoformat()
    progress_file = RunFiles(out_dir).progress

    def enter(phase: str) -> None:  # for the host's live view (camp_contract/progress.py)
        progress.write_progress(progress_file, phase)

    enter(progress.PHASE_PREFLIGHT)
    source = preflight(spec, out_dir)
    backend = get_backend(spec.backend)
    server: ServerHandle | None = None
    plan = load_plan(spec)
    try:
        cache = baseline_cache_dir(results_root) if results_root is not None else None
        enter(progress.PHASE_MODEL_FILES)
        model = fetch_model(spec)
        others = source.other_processes()
        settle_trace: list[Reading] = []
        enter(progress.PHASE_SETTLE)
        reference = cached_baseline(source, spec.measurement.baseline, cache)
        settle, _ = settle_gate(
            source, spec.measurement.settle, reference, spec.measurement.sample_hz, settle_trace
        )
        enter(progress.PHASE_LOAD)
        with Sampler(source, spec.measurement.sample_hz) as loading, source.busy():
            load_start = loading.mark()
            server = start_server(backend, spec.model_copy(update={"model": model.load_from}), source)
            try:
                server.wait_healthy(HEALTH_TIMEOUT_S)
            except ServerFailed as err:
                raise RunError(str(err)) from err
            load_end = loading.mark()
        idle_trace: list[Reading] = []
        enter(progress.PHASE_BASELINE)
        baseline = server_baseline(spec, source, idle_trace, settle.settled)
        gpus, device_ids = source.describe(), source.device_ids()
        prompts = prompts_for(spec.workload, spec.seed)
        warmup_pool = WarmupPrompts(spec.workload, spec.seed, prompts)
        served: ServerHandle = server

        def encode(prompt: str) -> bytes:
            w = spec.workload
            body = completion_body(
                served.model, prompt, w.max_output_tokens, w.fixed_output_length, spec.seed
            )
            return encode_body(body)

        make_body = RequestBodies(encode, prompts, warmup_pool, plan.warmup_arrivals())

        # The load generator marks the stream's start, the window's edges and the drain's end;
        # each mark starts the next phase, written off the event loop so no send waits on it.
        after_mark = iter([progress.PHASE_WARMUP, progress.PHASE_WINDOW, progress.PHASE_DRAIN])

        with Sampler(source, spec.measurement.sample_hz) as sampler:

            def mark() -> float:
                t = sampler.mark()
                phase = next(after_mark, None)
                if phase is not None:
                    threading.Thread(target=enter, args=(phase,), daemon=True).start()
                return t

            outcome = asyncio.run(drive(server.base_url, plan, make_body, mark=mark))
        enter(progress.PHASE_FINISHING)
        readings = settle_trace + loading.snapshot() + idle_trace + sampler.snapshot()
        extra = {
            "power_source": source.kind,
            "extra_power_sources": source.describe_extras(),
            "latency_scope": "per_request",
            "backend_params": spec.params.model_dump(mode="json"),
            "warmup_prompts": warmup_pool.as_environment(),
            "server": {"base_url": server.base_url, "model": server.model},
            "model": model.as_environment(),
            "visible_devices_as_given": visible_as_given,
            "spec": spec.model_dump(mode="json"),
        }
        environment = snapshot(gpus, source.driver(), extra)
    finally:
        if server is not None:
            server.stop()
        backend.release()
        source.close()
    return _finish(
        spec,
        out_dir,
        plan,
        outcome,
        readings,
        baseline,
        settle,
        others,
        device_ids,
        gpus,
        (load_start, load_end),
        warmup_pool,
        prompts,
        environment,
        started_at,
        idle_trace,
        settle_trace,
    )


def _finish(
    spec: RunSpec,
    out_dir: Path,
    plan: LoadPlan,
    outcome: LoadOutcome,
    readings: list[Reading],
    baseline: BaselineInfo,
    settle: SettleInfo,
    others: dict[str, int],
    device_ids: Any,
    gpus: list[dict[str, Any]],
    load: tuple[float, float],
    warmup_pool: WarmupPrompts,
    prompts: list[str],
    environment: Any,
    started_at: str,
    idle_trace: list[Reading],
    settle_trace: list[Reading],
) -> RunResult:
    start, end = outcome.window
    energy = energy_info(readings, start, end, baseline.power_w)
    by_source = energy_by_source(
        readings, start, end, device_ids, spec.measurement.power_source, energy, baseline
    )
    stats = window_stats(readings, start, end, energy.total_j)
    load_j = estimate_window(readings, *load).total_j
    serving = serving_metrics(outcome, plan, energy.adjusted_j)
    warnings = measurement_warnings(spec, readings, (start, end), energy, baseline, settle, others)
    warnings += prompt_warnings(prompts, warmup_pool)
    warnings += serving_warnings(outcome, plan, serving)
    if not serving.output_tokens_in_window:
        warnings.append(
            RunWarning(
                kind="no_output_tokens",
                message="no output token arrived in the measured window: energy per output token "
                "(and per request, where none completed) is undefined (NaN) and left out of the means",
            )
        )
    warmup_requests = [r for r in outcome.requests if r.warmup]
    origin = readings[0].t_s
    result = RunResult(
        campaign=spec.campaign,
        exp_id=spec.exp_id,
        cycle=spec.cycle,
        backend=spec.backend,
        model=spec.model,
        started_at=started_at,
        finished_at=datetime.now(timezone.utc).isoformat(),
        metrics=offline_shaped_metrics(
            outcome,
            serving,
            energy.total_j,
            energy.adjusted_j,
            stats.avg_power_w,
            stats.peak_power_w,
            load[1] - load[0],
            load_j,
        ),
        energy=energy,
        baseline=baseline,
        # Serving warms up for warmup_s at the target load, not until latencies settle.
        warmup=WarmupInfo(n_requests=len(warmup_requests), converged=True, final_cv=None),
        window=(start - origin, end - origin),
        requests=(),
        environment=environment,
        warnings=tuple(warnings),
        provenance=current_provenance(os.environ),
        sampling=sampling_info(
            readings, start, end, spec.measurement.sample_hz, {g["uuid"]: g["power_reading"] for g in gpus}
        ),
        settle=settle,
        window_start_temperature_c=temperatures_at(readings, start, [g["uuid"] for g in gpus]),
        energy_by_source=by_source,
        serving=serving,
    )
    phases = [
        (PHASE_LOAD, *load),
        (PHASE_WARMUP, outcome.started_s, start),
        (PHASE_MEASURED, start, end),
        (PHASE_DRAIN, end, outcome.drained_s),
    ]
    if idle_trace:
        phases.insert(1, (PHASE_BASELINE, idle_trace[0].t_s, idle_trace[-1].t_s))
    if settle_trace:
        phases.insert(0, (PHASE_SETTLE, settle_trace[0].t_s, settle_trace[-1].t_s))
    files = RunFiles(out_dir)
    write_requests(files.requests, outcome.requests, outcome.schedule_window, origin)
    write_timeseries(
        files.timeseries, readings, device_ids, origin, phases, in_flight_counter(outcome.requests)
    )
    atomic_write_text(files.result, result.model_dump_json(indent=2))
    return result
