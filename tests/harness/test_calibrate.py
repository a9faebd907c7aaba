"""``camp calibrate``'s measurement: the stepped synthetic counter, the verdict per window length,
and the GPU path against the fake NVML with a fake load."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from harness import calibrate
from harness.calibrate import (
    Bench,
    CalibrationSettings,
    WindowCheck,
    check_window,
    open_bench,
    run_calibration,
    shortest_ok_window,
    step_bound_window,
    verdict_for,
    with_advice,
)
from harness.measurement import nvml
from harness.measurement.counter_step import CounterStep
from harness.measurement.power import DeviceReading, Reading
from harness.measurement.steady_load import LoadError, matmul_load
from harness.measurement.synthetic import SyntheticPower
from tests.harness.fake_nvml import FakeGpu, FakeNvml, SimulatedClock

STEP = CounterStep(step_s=0.1, n_changes=100, resolved=True)
FAST = dict(idle_s=0.1, settle_s=0.0)  # seconds, not minutes: the verdicts need no long idle


# --- the synthetic source's stepped counter


def test_a_stepped_synthetic_counter_holds_the_value_of_its_last_refresh() -> None:
    clock = SimulatedClock(start=1000.0)
    source = SyntheticPower(clock=clock, counter_step_s=0.1)
    clock.advance(0.05)
    assert source.read().energy_j == 0.0  # no refresh yet
    clock.advance(0.06)  # t = 0.11: refreshed at 0.1 with 0.1 s × 40 W
    assert source.read().energy_j == pytest.approx(4.0)
    with source.busy():
        clock.advance(0.1)  # t = 0.21: the refresh at 0.2 saw 0.01 s idle, then 0.09 s busy
        reading = source.read()
    assert reading.energy_j == pytest.approx(4.0 + 40 * 0.01 + 160 * 0.09)
    assert reading.power_w == 160.0  # power itself is instantaneous
    assert source.describe()[0]["counter_step_s"] == 0.1


def test_the_default_synthetic_counter_stays_exact() -> None:
    clock = SimulatedClock(start=1000.0)
    source = SyntheticPower(clock=clock)
    clock.advance(0.05)
    assert source.read().energy_j == pytest.approx(2.0)
    assert "counter_step_s" not in source.describe()[0]
    with pytest.raises(ValueError, match="counter_step_s must be positive"):
        SyntheticPower(counter_step_s=0.0)


# --- verdicts


@pytest.mark.parametrize(
    ("disagreement", "step_share", "verdict"),
    [
        (0.005, 0.01, "ok"),
        (0.005, None, "ok"),  # no step estimate: the measured figure alone
        (0.03, 0.01, "marginal"),
        (0.005, 0.033, "marginal"),  # the step's worst case counts even where the sample was lucky
        (0.08, 0.01, "too_short"),
        (0.001, 0.33, "too_short"),
    ],
)
def test_a_verdict_is_given_on_the_worse_of_disagreement_and_step_share(
    disagreement: float, step_share: float | None, verdict: str
) -> None:
    assert verdict_for(disagreement, step_share) == verdict


def check(window_s: float, verdict: str, disagreement: float = 0.01) -> WindowCheck:
    return WindowCheck(window_s, 100, disagreement, 0.0, 0.1 / window_s, verdict)  # type: ignore[arg-type]


def test_the_shortest_ok_window_is_the_one_from_which_every_longer_one_is_ok() -> None:
    assert shortest_ok_window([check(0.3, "too_short"), check(3, "ok"), check(10, "ok")]) == 3
    # ok at 1 s by luck, marginal at 3 s: only 10 s is trusted
    assert shortest_ok_window([check(1, "ok"), check(3, "marginal"), check(10, "ok")]) == 10
    assert shortest_ok_window([check(1, "ok"), check(10, "marginal")]) is None


def test_advice_points_a_short_window_at_one_that_is_ok() -> None:
    assert with_advice(check(0.3, "too_short"), 10, None).advice == "too short: use windows ≥ 10 s"
    assert with_advice(check(10, "ok"), 10, None).advice == "ok (< 2%)"
    assert with_advice(check(3, "marginal"), 10, None).advice == "marginal (2%–5%)"
    # nothing tested was ok, but the longest was held back only by the step: 0.1 s / 2 % = 5 s
    checks = [check(0.3, "too_short"), check(1, "too_short", disagreement=0.015)]
    estimate = step_bound_window(checks, STEP)
    assert estimate == 5.0
    assert (
        with_advice(checks[0], None, estimate).advice
        == "too short: use windows ≥ 5 s (estimated from the step)"
    )
    # a longest window that disagrees beyond the step gives no estimate
    assert step_bound_window([check(1, "too_short", disagreement=0.04)], STEP) is None


def stepped_trace(
    step_s: float, hz: float, seconds: float, bias: float = 0.0, counter: bool = True
) -> list[Reading]:
    """A steady 200 W device sampled at ``hz``; its counter refreshed every ``step_s``, reading
    ``bias`` more than the power does."""
    readings = []
    for k in range(round(seconds * hz) + 1):
        t = k / hz
        refreshed = step_s * int(t / step_s + 1e-9)
        energy = 200.0 * (1 + bias) * refreshed if counter else None
        readings.append(Reading(t, (DeviceReading(power_w=200.0, energy_j=energy),)))
    return readings


def test_windows_of_a_whole_number_of_steps_still_meet_the_steps_error() -> None:
    """1 s windows on a 0.1 s counter, sampled in phase with it: cut at exactly 1 s, every window
    would see the same phase at both ends and show no error at all; a run's window is never a
    whole number of steps, so the check varies the lengths and meets the error a run meets."""
    result = check_window(stepped_trace(0.1, 100, 4.0), 1.0, STEP, sample_hz=100)
    assert result.n_windows == 200
    assert result.disagreement is not None and 0.05 < result.disagreement <= 0.1 + 1e-9
    assert result.verdict == "too_short"


def test_a_counter_that_reads_high_shows_as_an_offset() -> None:
    result = check_window(stepped_trace(0.01, 100, 3.0, bias=0.03), 1.0, STEP, sample_hz=100)
    assert result.offset == pytest.approx(0.03, abs=0.005)
    assert result.verdict == "too_short"  # 0.1 s step at 1 s: 10 %


def test_a_device_without_a_counter_gets_no_counter_verdicts() -> None:
    result = check_window(stepped_trace(0.1, 100, 2.0, counter=False), 0.5, STEP, sample_hz=100)
    assert result.verdict == "no_counter" and with_advice(result, None, None).advice.startswith(
        "no energy counter"
    )


# --- end to end on the synthetic source


def test_a_synthetic_calibration_reaches_every_verdict() -> None:
    """A 5 ms counter step (below the 10 ms sampling: only bounded by it) on windows of 0.1,
    0.3 and 0.6 s: 10 %, 3.3 %, 1.7 % of a window — too short, marginal, ok."""
    source = SyntheticPower(counter_step_s=0.005)
    bench = Bench(source, lambda: source.busy(), "busy", hold_context=None, context_note="synthetic")
    result = run_calibration(bench, CalibrationSettings(windows_s=(0.1, 0.3, 0.6), **FAST))
    assert [w.verdict for w in result.windows] == ["too_short", "marginal", "ok"]
    assert result.shortest_ok_window_s == 0.6
    assert result.windows[0].advice == "too short: use windows ≥ 0.6 s"
    assert not result.counter_step.resolved  # the counter outran the sampler
    assert (result.idle_bare.power_w, result.load_power_w) == (40.0, pytest.approx(160.0))
    assert result.idle_cuda_context is None
    assert "idle power with a CUDA context not measured: synthetic" in result.notes
    text = "\n".join(calibrate.report_lines(result))
    assert "shortest window this source meters within 2%: 0.6 s" in text


# --- the GPU path, against the fake NVML

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000"]


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml([FakeGpu(uuid=u, power_w=60.0) for u in UUIDS])
    monkeypatch.setattr(nvml, "pynvml", fake)
    return fake


@contextlib.contextmanager
def drawing(gpu: FakeGpu, watts: float) -> Iterator[None]:
    before, gpu.power_w = gpu.power_w, watts
    try:
        yield
    finally:
        gpu.power_w = before


def test_the_gpu_path_meters_the_named_gpu_under_its_load(
    fake_gpus: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = fake_gpus.gpus[1]
    loads: list[dict[str, str]] = []

    def fake_load(environ: dict[str, str]) -> contextlib.AbstractContextManager[None]:
        loads.append(dict(environ))
        return drawing(second, 300.0)

    monkeypatch.setattr(calibrate, "torch_installed", lambda: True)
    monkeypatch.setattr(calibrate, "matmul_load", fake_load)
    contexts: list[dict[str, str]] = []

    def fake_context(env: dict[str, str]) -> contextlib.AbstractContextManager[None]:
        contexts.append(dict(env))
        return drawing(second, 80.0)

    monkeypatch.setattr(calibrate, "cuda_context_held", fake_context)
    environ: dict[str, str] = {}
    bench = open_bench("auto", UUIDS[1], environ)
    try:
        result = run_calibration(bench, CalibrationSettings(windows_s=(0.2, 0.5), **FAST))
    finally:
        bench.source.close()
    assert (result.source, result.device_uuid) == ("nvml", UUIDS[1])
    # the load and the context children compute on the metered GPU: its PCI-order position
    assert environ == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    assert loads == contexts == [environ]
    assert result.idle_bare.power_w == 60.0 and result.idle_cuda_context is not None
    assert result.idle_cuda_context.power_w == 80.0
    assert result.load_power_w == pytest.approx(300.0)
    assert result.counter_step.resolved and result.counter_step.step_s == pytest.approx(0.1, abs=0.02)
    assert [w.verdict for w in result.windows] == ["too_short", "too_short"]  # 0.1 s step: 50 %, 20 %
    assert all(w.n_windows > 0 and w.disagreement is not None for w in result.windows)


def test_without_torch_the_gpu_idles_through_the_windows_and_says_so(
    fake_gpus: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibrate, "torch_installed", lambda: False)
    bench = open_bench("nvml", None, {})
    try:
        result = run_calibration(bench, CalibrationSettings(windows_s=(0.2,), **FAST))
    finally:
        bench.source.close()
    assert result.device_uuid == UUIDS[0]
    assert result.load.startswith("none") and result.idle_cuda_context is None
    assert result.load_power_w == pytest.approx(60.0)
    notes = " ".join(result.notes)
    assert "calibrated GPU-aaaa1111-0000 only; --gpu" in notes
    assert "torch is not installed in this Python" in notes
    assert "idle power with a CUDA context not measured: torch is not installed" in notes


def test_a_load_that_cannot_start_leaves_the_gpu_idle_with_a_note(
    fake_gpus: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_load(environ: dict[str, str]) -> contextlib.AbstractContextManager[None]:
        raise LoadError("the matmul load could not start on the GPU: CUDA out of memory")

    fake_gpus.gpus[0].compute_pids = (4242,)
    monkeypatch.setattr(calibrate, "torch_installed", lambda: True)
    monkeypatch.setattr(calibrate, "matmul_load", failing_load)
    monkeypatch.setattr(calibrate, "cuda_context_held", lambda env: contextlib.nullcontext())
    bench = open_bench("nvml", "0", {})
    try:
        result = run_calibration(bench, CalibrationSettings(windows_s=(0.2,), **FAST))
    finally:
        bench.source.close()
    notes = " ".join(result.notes)
    assert "CUDA out of memory: the windows were checked on the idle GPU instead" in notes
    assert "1 other compute process(es) hold this GPU" in notes
    assert result.load.startswith("none")


def test_the_real_matmul_load_without_a_gpu_fails_in_one_line() -> None:
    """The real load script, here where torch sees no CUDA device (CPU-only torch)."""
    reason = r"could not start on the GPU: .*torch sees no CUDA device"
    with pytest.raises(LoadError, match=reason), matmul_load(dict(os.environ)):
        pass
