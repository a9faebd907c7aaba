"""One run of one experiment, in the order the measurement needs:

preflight → model files fetched (pinned, outside every metered phase) → settle gate (the GPUs
back at idle) → idle baseline → load (timed, metered) → warmup → measured window → environment
snapshot → energy → result.json + timeseries.parquet, both written atomically beside the spec.
``result.json`` is written last: its presence means the run is complete.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from camp_contract import progress
from camp_contract.atomic import atomic_write_text
from camp_contract.layout import RunFiles, baseline_cache_dir
from camp_contract.models import (
    BaselineInfo,
    EnergyInfo,
    Metrics,
    RequestRecord,
    RunResult,
    RunSpec,
    RunWarning,
    SettleInfo,
)
from camp_contract.timeseries import (
    PHASE_BASELINE,
    PHASE_LOAD,
    PHASE_MEASURED,
    PHASE_SETTLE,
    PHASE_WARMUP,
)
from harness.backends import get_backend
from harness.backends.base import Completion
from harness.environment import snapshot
from harness.measurement.baseline import baseline_warnings, cached_baseline, idle_baseline
from harness.measurement.by_source import energy_by_source
from harness.measurement.composed import ComposedSource
from harness.measurement.energy import energy_info, sampling_warnings, warnings_for, window_stats
from harness.measurement.estimator import estimate_window
from harness.measurement.power import Reading, SourceUnavailable
from harness.measurement.sampler import Sampler
from harness.measurement.sampling import sampling_info
from harness.measurement.settle import settle_gate, settle_warnings, temperatures_at
from harness.measurement.sources import SourcesUnavailable, open_sources
from harness.measurement.warmup import warm_up
from harness.model_files import fetch_model
from harness.preflight import find_problems
from harness.provenance import current_provenance
from harness.timeseries import write_timeseries
from harness.workload import WarmupPrompts, prompt_warnings, prompts_for

VISIBLE_DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


class RunError(RuntimeError):
    """A run that cannot produce a trustworthy result; the message is shown to the user."""


class PreflightError(RunError):
    """Problems found before anything was measured (see preflight.py), all of them."""

    def __init__(self, problems: list[str]):
        super().__init__("preflight: " + "; ".join(problems))
        self.problems = problems


def open_power_source(spec: RunSpec) -> ComposedSource:
    """The spec's GPU source and extra sources, opened from the registry (``sources.py``; NVML
    pins CUDA to the GPUs it meters); any that cannot be opened is a ``RunError`` naming it."""
    try:
        return open_sources(spec.measurement, os.environ)
    except SourceUnavailable as err:
        raise RunError(str(err)) from err


def preflight(spec: RunSpec, out_dir: Path) -> ComposedSource:
    """Find every problem at once (see preflight.py), the power sources' included; the opened
    sources when there is none."""
    problems = find_problems(spec, out_dir)
    source: ComposedSource | None = None
    try:
        source = open_sources(spec.measurement, os.environ)
    except SourcesUnavailable as err:
        problems.extend(err.problems)
    if problems:
        if source is not None:
            source.close()
        raise PreflightError(problems)
    assert source is not None
    return source


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _metrics(
    completions: list[Completion],
    duration: float,
    energy_j: float,
    adjusted_j: float,
    avg_w: float,
    peak_w: float,
    load_s: float,
    load_j: float,
) -> Metrics:
    latencies = [c.latency_s for c in completions]
    out_tokens = sum(c.output_tokens for c in completions)
    return Metrics(
        n_requests=len(completions),
        input_tokens=sum(c.input_tokens for c in completions),
        output_tokens=out_tokens,
        duration_s=duration,
        # Undefined ratios are NaN (null in result.json), never 0: a 0 would be averaged in.
        throughput_tokens_per_s=out_tokens / duration if duration > 0 else math.nan,
        requests_per_s=len(completions) / duration if duration > 0 else math.nan,
        latency_mean_s=statistics.fmean(latencies),
        latency_p50_s=_percentile(latencies, 50),
        latency_p90_s=_percentile(latencies, 90),
        latency_p99_s=_percentile(latencies, 99),
        energy_j=energy_j,
        energy_adjusted_j=adjusted_j,
        energy_per_output_token_j=adjusted_j / out_tokens if out_tokens else math.nan,
        energy_per_request_j=adjusted_j / len(completions),
        avg_power_w=avg_w,
        peak_power_w=peak_w,
        load_time_s=load_s,
        load_energy_j=load_j,
    )


def measurement_warnings(
    spec: RunSpec,
    readings: list[Reading],
    window: tuple[float, float],
    energy: EnergyInfo,
    baseline: BaselineInfo,
    settle: SettleInfo,
    others: dict[str, int],
) -> list[RunWarning]:
    """What the meter says about a window, in any mode: the energy's, the sampling's, the
    baseline's, the settle gate's, and other processes on the GPUs."""
    start, end = window
    warnings = warnings_for(readings, start, end, energy, 1 / spec.measurement.sample_hz)
    warnings += sampling_warnings(readings, start, end, spec.measurement.sample_hz)
    warnings += baseline_warnings(baseline)
    warnings += settle_warnings(settle, spec.measurement.settle)
    warnings += [
        RunWarning(
            kind="other_processes",
            message=f"{n} other compute process(es) held GPU {uuid} when the run started: their draw "
            "is in the baseline and in the measured energy",
        )
        for uuid, n in others.items()
    ]
    return warnings


def run_experiment(spec: RunSpec, out_dir: Path, results_root: Path | None = None) -> RunResult:
    """Run ``spec`` and write its result and timeseries into ``out_dir``; a server-mode spec
    runs the serving flow (``harness.serving.run_server``)."""
    if spec.workload.mode == "server":
        from harness.serving.run_server import run_serving_experiment  # it imports this module

        return run_serving_experiment(spec, out_dir, results_root)
    visible_as_given = {k: os.environ[k] for k in VISIBLE_DEVICE_VARIABLES if k in os.environ}
    started_at = datetime.now(timezone.utc).isoformat()
    progress_file = RunFiles(out_dir).progress

    def enter(phase: str) -> None:  # for the host's live view (camp_contract/progress.py)
        progress.write_progress(progress_file, phase)

    enter(progress.PHASE_PREFLIGHT)
    source = preflight(spec, out_dir)
    backend = get_backend(spec.backend)
    try:
        cache = baseline_cache_dir(results_root) if results_root is not None else None
        enter(progress.PHASE_MODEL_FILES)
        model = fetch_model(spec)  # a download here is in no metered phase
        others = source.other_processes()  # before any context of ours exists
        settle_trace: list[Reading] = []
        extras = spec.measurement.extra_power_sources
        enter(progress.PHASE_SETTLE)
        reference = cached_baseline(source, spec.measurement.baseline, cache)  # the GPUs' reference
        settle, last_idle = settle_gate(
            source, spec.measurement.settle, reference, spec.measurement.sample_hz, settle_trace
        )
        idle_trace: list[Reading] = []  # empty when the baseline came from the cache
        enter(progress.PHASE_BASELINE)
        baseline = idle_baseline(
            source,
            spec.measurement.baseline,
            spec.measurement.sample_hz,
            cache,
            trace=idle_trace,
            recheck=last_idle,
            settled=settle.settled,
            extras=extras,
        )
        gpus = source.describe()
        device_ids = source.device_ids()
        prompts = prompts_for(spec.workload, spec.seed)
        with Sampler(source, spec.measurement.sample_hz) as sampler:
            # Marks are taken inside busy(): for the synthetic source the window then holds only
            # the busy level; for NVML busy() changes nothing.
            enter(progress.PHASE_LOAD)
            with source.busy():
                load_start = sampler.mark()
                backend.load(spec.model_copy(update={"model": model.load_from}))
                load_end = sampler.mark()
            warm = max(1, min(backend.warmup_batch_size(), len(prompts)))
            # Never the measured prompts: a prefix cache would serve them from what warmup left.
            warmup_pool = WarmupPrompts(spec.workload, spec.seed, prompts)

            def warmup_step() -> tuple[float, int]:
                batch = warmup_pool.take(warm)
                began = time.perf_counter()
                with source.busy():
                    backend.run(batch)
                return time.perf_counter() - began, len(batch)

            enter(progress.PHASE_WARMUP)
            warmup = warm_up(warmup_step, spec.measurement.warmup)
            cache_reset = backend.reset_cache()
            enter(progress.PHASE_WINDOW)
            with source.busy():
                start = sampler.mark()
                completions = backend.run(prompts)
                end = sampler.mark()
        enter(progress.PHASE_FINISHING)
        readings = settle_trace + idle_trace + sampler.snapshot()
        extra = {
            "power_source": source.kind,
            "extra_power_sources": source.describe_extras(),
            "latency_scope": backend.latency_scope,
            "backend_params": spec.params.model_dump(mode="json"),
            "warmup_prompts": warmup_pool.as_environment(),
            "cache_reset": cache_reset,
            "model": model.as_environment(),
            "visible_devices_as_given": visible_as_given,  # before pin_cuda_devices rewrote them
            "spec": spec.model_dump(mode="json"),
        }
        environment = snapshot(gpus, source.driver(), extra)
    finally:
        backend.release()
        source.close()
    if len(completions) != len(prompts):
        raise RunError(f"backend returned {len(completions)} completions for {len(prompts)} prompts")
    energy = energy_info(readings, start, end, baseline.power_w)
    by_source = energy_by_source(
        readings, start, end, device_ids, spec.measurement.power_source, energy, baseline
    )
    stats = window_stats(readings, start, end, energy.total_j)
    load_j = estimate_window(readings, load_start, load_end).total_j  # the same estimator as the window
    warnings = measurement_warnings(spec, readings, (start, end), energy, baseline, settle, others)
    warnings += prompt_warnings(prompts, warmup_pool)
    if not any(c.output_tokens for c in completions):
        warnings.append(
            RunWarning(
                kind="no_output_tokens",
                message=f"the backend generated no output tokens for {len(completions)} requests: "
                "energy per output token is undefined (NaN) and left out of the means",
            )
        )
    if not warmup.converged:
        warnings.append(
            RunWarning(
                kind="warmup_not_converged",
                message=f"warmup did not converge: CV {warmup.final_cv} after {warmup.n_requests} requests",
            )
        )
    origin = readings[0].t_s
    result = RunResult(
        campaign=spec.campaign,
        exp_id=spec.exp_id,
        cycle=spec.cycle,
        backend=spec.backend,
        model=spec.model,
        started_at=started_at,
        finished_at=datetime.now(timezone.utc).isoformat(),
        metrics=_metrics(
            completions,
            end - start,
            energy.total_j,
            energy.adjusted_j,
            stats.avg_power_w,
            stats.peak_power_w,
            load_end - load_start,
            load_j,
        ),
        energy=energy,
        baseline=baseline,
        warmup=warmup,
        window=(start - origin, end - origin),
        requests=tuple(
            RequestRecord(input_tokens=c.input_tokens, output_tokens=c.output_tokens, latency_s=c.latency_s)
            for c in completions
        ),
        environment=environment,
        warnings=tuple(warnings),
        provenance=current_provenance(os.environ),
        sampling=sampling_info(
            readings, start, end, spec.measurement.sample_hz, {g["uuid"]: g["power_reading"] for g in gpus}
        ),
        settle=settle,
        window_start_temperature_c=temperatures_at(readings, start, [g["uuid"] for g in gpus]),
        energy_by_source=by_source,
    )
    phases = [
        (PHASE_LOAD, load_start, load_end),
        (PHASE_WARMUP, load_end, start),
        (PHASE_MEASURED, start, end),
    ]
    if idle_trace:
        phases.insert(0, (PHASE_BASELINE, idle_trace[0].t_s, idle_trace[-1].t_s))
    if settle_trace:
        phases.insert(0, (PHASE_SETTLE, settle_trace[0].t_s, settle_trace[-1].t_s))
    files = RunFiles(out_dir)
    write_timeseries(files.timeseries, readings, device_ids, origin, phases)
    atomic_write_text(files.result, result.model_dump_json(indent=2))
    return result
