"""``camp calibrate``: how short a window this GPU's meter measures honestly.

On the user's own GPU it measures the energy counter's update step, the idle power bare and
with a CUDA context, and — on a steady load, where the integral of power sampled at 100 Hz is
trustworthy — the counter against that integral on windows of several lengths, each cut at
many start instants across the trace (so every phase of the counter's steps is met). A window
length gets a verdict from the worse of two figures: the 95th percentile of
|counter − integral| / integral over its windows, and the counter's step as a share of the
window (one step at each edge is the counter's worst case). Without a GPU it calibrates the
synthetic source, whose counter then steps like NVML's, so the command is tested end to end.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from harness import __version__
from harness.measurement.baseline import measure_idle, median_and_iqr
from harness.measurement.counter_step import CounterStep, estimate_counter_step
from harness.measurement.cuda_context import CudaContextError, cuda_context_held
from harness.measurement.energy import DISAGREEMENT_WARN, counter_delta, integrate, window
from harness.measurement.nvml import GpuSelectionError, NvmlPower, pin_cuda_devices
from harness.measurement.power import PowerSource, Reading
from harness.measurement.sampler import Sampler
from harness.measurement.steady_load import LoadError, matmul_load, synthetic_load, torch_installed
from harness.measurement.synthetic import SyntheticPower

FORMAT_VERSION = 1
OK_WITHIN = DISAGREEMENT_WARN  # 2 %: above it a run warns that counter and integral disagree
MARGINAL_WITHIN = 0.05
QUANTILE = 0.95  # of the windows' disagreements: the figure a verdict is given on
DEFAULT_WINDOWS_S = (0.3, 1.0, 3.0, 10.0)
DEFAULT_SAMPLE_HZ = 100.0
MAX_SAMPLE_HZ = 100.0  # the most a run samples at (contract.MeasurementSettings)
DEFAULT_IDLE_S = 5.0
DEFAULT_SETTLE_S = 3.0  # the load's first seconds: clocks and temperature still rising
LOAD_SPAN = 2.0  # the steady trace lasts this many times the longest window…
MIN_LOAD_S = 1.0  # …and at least this long, so the counter steps often enough to be estimated
WINDOWS_PER_LENGTH = 200  # start instants, spread evenly over the trace
MIN_SAMPLES_PER_WINDOW = 5
GOLDEN = (5**0.5 - 1) / 2  # spreads the windows' lengths evenly, uncorrelated with their starts
SYNTHETIC_COUNTER_STEP_S = 0.1  # NVML's counter is refreshed about every 100 ms on current GPUs

SourceChoice = Literal["auto", "nvml", "synthetic"]
Verdict = Literal["ok", "marginal", "too_short", "no_counter"]
StartLoad = Callable[[], contextlib.AbstractContextManager[None]]


class CalibrationError(RuntimeError):
    """The calibration cannot run (no NVML where it was asked for, a GPU that is not there)."""


@dataclass(frozen=True)
class CalibrationSettings:
    """What to measure; every problem is a ``ValueError`` naming the option to change."""

    windows_s: tuple[float, ...] = DEFAULT_WINDOWS_S
    sample_hz: float = DEFAULT_SAMPLE_HZ
    idle_s: float = DEFAULT_IDLE_S
    settle_s: float = DEFAULT_SETTLE_S

    def __post_init__(self) -> None:
        if not 0 < self.sample_hz <= MAX_SAMPLE_HZ:
            raise ValueError(f"--sample-hz must be in (0, {MAX_SAMPLE_HZ:g}], not {self.sample_hz:g}")
        if not self.windows_s or any(w <= 0 for w in self.windows_s):
            raise ValueError("--windows must be positive seconds, e.g. 0.3,1,3,10")
        too_short = [w for w in self.windows_s if w * self.sample_hz < MIN_SAMPLES_PER_WINDOW]
        if too_short:
            raise ValueError(
                f"--windows {too_short[0]:g} s holds fewer than {MIN_SAMPLES_PER_WINDOW} samples at "
                f"--sample-hz {self.sample_hz:g}: lengthen the window or raise the rate"
            )
        if self.idle_s <= 0:
            raise ValueError(f"--idle-s must be positive, not {self.idle_s:g}")
        if self.settle_s < 0:
            raise ValueError(f"--settle-s must be 0 or more, not {self.settle_s:g}")

    @property
    def load_s(self) -> float:
        """How long the steady load is sampled (after settling)."""
        return max(LOAD_SPAN * max(self.windows_s), MIN_LOAD_S)


@dataclass
class Bench:
    """What is calibrated and how: the source, the steady load to put on it, how to hold an idle
    CUDA context (None where that is not possible here; ``context_note`` says why), and notes
    for the reader."""

    source: PowerSource
    load: StartLoad
    load_name: str
    hold_context: StartLoad | None
    context_note: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IdlePower:
    power_w: float  # median
    spread_w: float  # inter-quartile range
    n_samples: int
    duration_s: float


@dataclass(frozen=True)
class WindowCheck:
    """One window length: how far the counter strays from the integral over ``n_windows``
    windows of it (``disagreement``: the 95th percentile of the relative gap; ``offset``: the
    median signed gap, counter above integral when positive), the counter's step as a share of
    the window, and the verdict on the worse of the two."""

    window_s: float
    n_windows: int
    disagreement: float | None
    offset: float | None
    step_share: float | None
    verdict: Verdict
    advice: str = ""


@dataclass(frozen=True)
class Calibration:
    format_version: int
    camp_version: str
    measured_at: str
    source: str
    device_uuid: str
    device_name: str
    sample_hz: float
    achieved_hz: float
    counter_step: CounterStep
    idle_bare: IdlePower
    idle_cuda_context: IdlePower | None
    load: str
    load_power_w: float
    load_duration_s: float
    windows: list[WindowCheck]
    shortest_ok_window_s: float | None  # the shortest tested length from which every longer one is ok
    ok_within: float
    marginal_within: float
    disagreement_quantile: float
    notes: list[str]


def synthetic_bench(notes: Sequence[str] = ()) -> Bench:
    source = SyntheticPower(counter_step_s=SYNTHETIC_COUNTER_STEP_S)
    return Bench(
        source=source,
        load=lambda: synthetic_load(source),
        load_name="synthetic busy level (CPU loop)",
        hold_context=None,
        context_note="the synthetic source has no CUDA context",
        notes=list(notes),
    )


def open_bench(choice: SourceChoice, gpu: str | None, environ: MutableMapping[str, str]) -> Bench:
    """The bench for ``choice``: ``auto`` is the GPU where NVML sees one, else the synthetic
    source with a note saying so (but never when ``gpu`` was named: that asks for a GPU).
    On a GPU, ``environ`` is pinned to it (as a run pins it), so the load and the context
    children compute where the meter is read."""
    if choice == "synthetic":
        return synthetic_bench()
    notes: list[str] = []
    wanted = dict(environ)
    if gpu is not None:  # an index in PCI bus order (as nvidia-smi counts) or a UUID
        wanted["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        source = NvmlPower(wanted)
        visible = source.devices()
        if len(visible) > 1:  # one GPU at a time: the first the visible-devices variables allow
            source.close()
            source = NvmlPower({**wanted, "CUDA_VISIBLE_DEVICES": visible[0].uuid})
            notes.append(f"calibrated {visible[0].uuid} only; --gpu INDEX_OR_UUID picks another")
    except Exception as err:  # no driver, no library, no GPU, or not the GPU asked for
        if gpu is not None and isinstance(err, GpuSelectionError):
            raise CalibrationError(f"--gpu {gpu}: {err}") from None
        if choice == "nvml" or gpu is not None:
            raise CalibrationError(f"NVML power source unavailable: {err}") from None
        return synthetic_bench(
            [
                f"no GPU here (NVML: {err}): calibrated the synthetic source instead; its figures "
                f"describe a test trace whose counter steps every {SYNTHETIC_COUNTER_STEP_S:g} s, not a GPU"
            ]
        )
    pin_cuda_devices(source.devices(), source.all_devices(), environ)
    if not torch_installed():
        return Bench(
            source=source,
            load=contextlib.nullcontext,
            load_name="none: the GPU idles (torch is not installed)",
            hold_context=None,
            context_note="torch is not installed",
            notes=[
                *notes,
                "torch is not installed in this Python: the windows were checked on the idle GPU "
                "(the counter's step shows as under load, the meter under load does not); "
                "install torch (pip install 'camp[pytorch]') for the loaded check",
            ],
        )
    return Bench(
        source=source,
        load=lambda: matmul_load(environ),
        load_name="torch matmul loop",
        hold_context=lambda: cuda_context_held(env=environ),
        notes=notes,
    )


def run_calibration(bench: Bench, settings: CalibrationSettings) -> Calibration:
    """Measure idle (bare, then with a context), then the steady load, on ``bench``."""
    source = bench.source
    notes = list(bench.notes)
    others = source.other_processes()
    if others:
        notes.append(
            f"{sum(others.values())} other compute process(es) hold this GPU: their draw is in every "
            "figure here; free the GPU and calibrate again"
        )
    bare = _idle(source, settings)
    context: IdlePower | None = None
    if bench.hold_context is None:
        notes.append(f"idle power with a CUDA context not measured: {bench.context_note}")
    else:
        try:
            with bench.hold_context():
                context = _idle(source, settings)
        except CudaContextError as err:
            notes.append(f"idle power with a CUDA context not measured: {err}")
    load_name, trace = _steady_trace(bench, settings, notes)
    duration = trace[-1].t_s - trace[0].t_s
    step = estimate_counter_step(trace)
    checks = [
        check_window(trace, length, step, settings.sample_hz) for length in sorted(set(settings.windows_s))
    ]
    shortest = shortest_ok_window(checks)
    if source.kind == "nvml" and any(d.power_avg_1s_w is None for r in trace for d in r.devices):
        notes.append(
            "this GPU offers no instantaneous power field: the integral is of "
            "nvmlDeviceGetPowerUsage (a 1 s average on Ampere and newer), fine on a steady load"
        )
    device = source.devices()[0]
    return Calibration(
        format_version=FORMAT_VERSION,
        camp_version=__version__,
        measured_at=datetime.now(timezone.utc).isoformat(),
        source=source.kind,
        device_uuid=device.uuid,
        device_name=device.name,
        sample_hz=settings.sample_hz,
        achieved_hz=(len(trace) - 2) / duration if duration > 0 else 0.0,  # less the two edge marks
        counter_step=step,
        idle_bare=bare,
        idle_cuda_context=context,
        load=load_name,
        load_power_w=integrate(trace, trace[0].t_s, trace[-1].t_s) / duration if duration > 0 else 0.0,
        load_duration_s=duration,
        windows=[with_advice(c, shortest, step_bound_window(checks, step)) for c in checks],
        shortest_ok_window_s=shortest,
        ok_within=OK_WITHIN,
        marginal_within=MARGINAL_WITHIN,
        disagreement_quantile=QUANTILE,
        notes=notes,
    )


def _idle(source: PowerSource, settings: CalibrationSettings) -> IdlePower:
    readings, took = measure_idle(source, settings.idle_s, settings.sample_hz)
    power_w, spread_w = median_and_iqr([r.power_w for r in readings])
    return IdlePower(power_w=power_w, spread_w=spread_w, n_samples=len(readings), duration_s=took)


def _steady_trace(bench: Bench, settings: CalibrationSettings, notes: list[str]) -> tuple[str, list[Reading]]:
    """The load's name and its trace, sampled for ``settings.load_s`` once it has settled. A load
    that cannot start (torch without CUDA, a full GPU) leaves the GPU idle, with a note."""
    with contextlib.ExitStack() as stack:
        load_name = bench.load_name
        try:
            stack.enter_context(bench.load())
        except LoadError as err:
            load_name = "none: the GPU idles (the load could not start)"
            notes.append(f"{err}: the windows were checked on the idle GPU instead")
        time.sleep(settings.settle_s)
        with Sampler(bench.source, settings.sample_hz) as sampler:
            start = sampler.mark()
            time.sleep(settings.load_s)
            end = sampler.mark()
    return load_name, window(sampler.snapshot(), start, end)


def check_window(
    trace: Sequence[Reading], length_s: float, step: CounterStep, sample_hz: float
) -> WindowCheck:
    """Counter against integral on windows of about ``length_s`` cut from ``trace`` at up to
    ``WINDOWS_PER_LENGTH`` start samples spread evenly over it.

    The lengths vary by up to one counter step around ``length_s`` (never more than half of it),
    so the windows' ends meet every phase of the counter's refresh: windows of exactly 0.3, 1,
    3 s on a counter refreshed every 0.1 s would start and end at the same phase, and the step's
    error would cancel as it never does on a run's window of arbitrary length."""
    spread = min(step.step_s if step.step_s is not None else 1 / sample_hz, length_s / 2)
    times = [r.t_s for r in trace]
    last_start = bisect.bisect_right(times, times[-1] - length_s - spread / 2) - 1
    n_starts = min(WINDOWS_PER_LENGTH, last_start + 1)
    gaps: list[float] = []
    for k in range(n_starts):
        i = round(k * last_start / max(n_starts - 1, 1))
        length = length_s + spread * ((k * GOLDEN) % 1.0 - 0.5)
        j = _nearest(times, times[i] + length, lowest=i + 1)
        points = trace[i : j + 1]
        counter = counter_delta(points, times[i], times[j])
        if counter is None:
            return WindowCheck(length_s, 0, None, None, None, "no_counter")
        integral = integrate(points, times[i], times[j])
        if integral > 0:
            gaps.append((counter - integral) / integral)
    step_share = step.step_s / length_s if step.step_s is not None else None
    if not gaps:
        return WindowCheck(length_s, 0, None, None, step_share, "too_short")
    disagreement = _quantile([abs(g) for g in gaps], QUANTILE)
    return WindowCheck(
        window_s=length_s,
        n_windows=len(gaps),
        disagreement=disagreement,
        offset=statistics.median(gaps),
        step_share=step_share,
        verdict=verdict_for(disagreement, step_share),
    )


def _nearest(times: Sequence[float], target: float, lowest: int) -> int:
    """The index of the time nearest ``target``, at least ``lowest`` (and within the trace)."""
    j = min(max(bisect.bisect_left(times, target), lowest), len(times) - 1)
    if j - 1 >= lowest and target - times[j - 1] < times[j] - target:
        return j - 1
    return j


def _quantile(values: Sequence[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def verdict_for(disagreement: float, step_share: float | None) -> Verdict:
    """ok under ``OK_WITHIN``, marginal under ``MARGINAL_WITHIN``, else too short — judged on the
    worse of the measured disagreement and the step's share of the window."""
    worst = max(disagreement, step_share or 0.0)
    if worst < OK_WITHIN:
        return "ok"
    if worst < MARGINAL_WITHIN:
        return "marginal"
    return "too_short"


def shortest_ok_window(checks: Sequence[WindowCheck]) -> float | None:
    """The shortest tested length from which every longer tested length is ok too."""
    shortest = None
    for check in sorted(checks, key=lambda c: c.window_s, reverse=True):
        if check.verdict != "ok":
            break
        shortest = check.window_s
    return shortest


def step_bound_window(checks: Sequence[WindowCheck], step: CounterStep) -> float | None:
    """Where no tested length is ok but the longest one was held back only by the counter's
    step (its measured disagreement was within ``OK_WITHIN``): the length at which the step's
    share falls to ``OK_WITHIN``. Untested, so it is said to be an estimate."""
    if not checks or step.step_s is None:
        return None
    longest = max(checks, key=lambda c: c.window_s)
    if longest.disagreement is None or longest.disagreement >= OK_WITHIN:
        return None
    return float(f"{step.step_s / OK_WITHIN:.2g}")


def with_advice(check: WindowCheck, shortest_ok: float | None, estimate: float | None) -> WindowCheck:
    """The verdict in words; a too-short length is pointed at the shortest one that is ok."""
    if check.verdict == "ok":
        advice = f"ok (< {OK_WITHIN:.0%})"
    elif check.verdict == "marginal":
        advice = f"marginal ({OK_WITHIN:.0%}–{MARGINAL_WITHIN:.0%})"
    elif check.verdict == "no_counter":
        advice = "no energy counter: runs are metered by integration"
    elif shortest_ok is not None:
        advice = f"too short: use windows ≥ {shortest_ok:g} s"
    elif estimate is not None:
        advice = f"too short: use windows ≥ {estimate:g} s (estimated from the step)"
    else:
        advice = f"too short (≥ {MARGINAL_WITHIN:.0%})"
    return dataclasses.replace(check, advice=advice)


def to_json(calibration: Calibration) -> str:
    return json.dumps(dataclasses.asdict(calibration), indent=2, ensure_ascii=False) + "\n"


def _percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _step_line(step: CounterStep, sample_hz: float, has_counter: bool) -> str:
    if not has_counter:
        return "none: this GPU has no energy counter"
    if step.step_s is None:
        return f"unknown (the counter changed only {step.n_changes} times)"
    if not step.resolved:
        return (
            f"≤ {step.step_s:.3f} s (it changes at nearly every sample: {sample_hz:g} Hz cannot resolve it)"
        )
    return f"{step.step_s:.3f} s (median spacing of {step.n_changes} changes)"


def _idle_line(idle: IdlePower) -> str:
    return (
        f"{idle.power_w:8.1f} W  (IQR {idle.spread_w:.1f} W, {idle.n_samples} samples over "
        f"{idle.duration_s:.1f} s)"
    )


def report_lines(c: Calibration) -> list[str]:
    """The calibration as the terminal shows it: the figures, a table of window lengths with
    their verdicts, and the one line to remember."""
    subject = "this GPU" if c.source == "nvml" else "this source"
    has_counter = any(w.verdict != "no_counter" for w in c.windows)
    lines = [
        f"camp calibrate: {c.device_name} ({c.device_uuid}), power source {c.source}",
        f"  counter update step      {_step_line(c.counter_step, c.sample_hz, has_counter)}",
        f"  idle power, bare         {_idle_line(c.idle_bare)}",
        "  idle power, CUDA context "
        + (_idle_line(c.idle_cuda_context) if c.idle_cuda_context else "     —    (see the notes)"),
        f"  steady load              {c.load_power_w:8.1f} W  ({c.load}, {c.load_duration_s:.1f} s "
        f"sampled at {c.achieved_hz:.1f} Hz of {c.sample_hz:g} Hz asked)",
        "",
        "  window  windows  counter vs integral (p95)  offset  step/window  verdict",
    ]
    for w in c.windows:
        lines.append(
            f"  {w.window_s:>5g} s  {w.n_windows:>7}  {_percent(w.disagreement):>25}  "
            f"{_percent(w.offset, signed=True):>6}  {_percent(w.step_share):>11}  {w.advice}"
        )
    lines.append("")
    if not has_counter:
        lines.append(f"{subject} has no energy counter: runs on it are metered by integrating sampled power")
    elif c.shortest_ok_window_s is not None:
        lines.append(f"shortest window {subject} meters within {OK_WITHIN:.0%}: {c.shortest_ok_window_s:g} s")
    else:
        longest = max(c.windows, key=lambda w: w.window_s)
        worst = max(longest.disagreement or 0.0, longest.step_share or 0.0)
        lines.append(
            f"no tested window is metered within {OK_WITHIN:.0%} (the longest, {longest.window_s:g} s: "
            f"{_percent(worst)}); test longer --windows"
            + (
                ""
                if abs(longest.offset or 0.0) < OK_WITHIN
                else ": the counter and the power readings differ"
            )
        )
    lines += [f"note: {note}" for note in c.notes]
    return lines
