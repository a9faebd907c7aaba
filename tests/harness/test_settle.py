"""The settle gate and the re-checked baseline, on a fake GPU that cools down on a simulated clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from camp_contract.models import BaselineInfo, BaselineSettings, SettleInfo, SettleSettings
from harness.measurement import nvml
from harness.measurement.baseline import cached_baseline, idle_baseline
from harness.measurement.nvml import NvmlPower
from harness.measurement.power import Reading
from harness.measurement.settle import IdleRead, settle_gate, settle_warnings
from harness.measurement.synthetic import SyntheticPower
from tests.harness.fake_nvml import FakeGpu, FakeNvml, SimulatedClock, cooling, leaking

IDLE_C, IDLE_W = 38.0, 100.0
HOT = cooling(hot_c=70.0, idle_c=IDLE_C, tau_s=30.0)  # 70 °C, back to 43 °C after ~56 s
SETTINGS = SettleSettings(temperature_tolerance_c=5.0, power_tolerance=0.05, timeout_s=300, poll_s=2.0)


def reference(**update: object) -> BaselineInfo:
    """A cached baseline measured on the idle GPU: 100 W at 40 °C."""
    info = BaselineInfo(
        power_w=IDLE_W,
        spread_w=0.5,
        n_samples=50,
        duration_s=5.0,
        method="bare_idle",
        cached=False,
        measured_at=datetime.now(timezone.utc).isoformat(),
        temperature_c={"GPU-hot": 40.0},
    )
    return info.model_copy(update=update)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    clock = SimulatedClock()
    monkeypatch.setattr(nvml, "time", clock)
    return clock


def nvml_source(monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock, gpu: FakeGpu) -> NvmlPower:
    monkeypatch.setattr(nvml, "pynvml", FakeNvml([gpu], clock=clock))
    return NvmlPower({})


@pytest.fixture
def hot_gpu(monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock) -> Iterator[NvmlPower]:
    """Just after a heavy run: 70 °C, and leaking 1 W per degree above its idle 100 W at 38 °C."""
    gpu = FakeGpu(uuid="GPU-hot", temperature_trace=HOT, trace=leaking(IDLE_W, HOT, IDLE_C, w_per_c=1.0))
    source = nvml_source(monkeypatch, clock, gpu)
    yield source
    source.close()


def gate(
    source: NvmlPower,
    clock: SimulatedClock,
    ref: BaselineInfo | None,
    settings: SettleSettings = SETTINGS,
    trace: list[Reading] | None = None,
) -> tuple[SettleInfo, IdleRead | None]:
    return settle_gate(source, settings, ref, hz=10, trace=trace, clock=clock, sleep=clock.advance)


def test_a_hot_gpu_is_waited_for_until_it_is_back_at_its_baseline_temperature_and_power(
    hot_gpu: NvmlPower, clock: SimulatedClock
) -> None:
    trace: list[Reading] = []
    info, last = gate(hot_gpu, clock, reference(), trace=trace)
    # Cooling from 70 °C with τ = 30 s, it is within 5 °C of its baseline's 40 °C after
    # 30·ln(32/7) ≈ 46 s, but leaks more than 5 % over its idle 100 W until 43 °C: 30·ln(32/5) ≈ 56 s
    # (an idle read every 2.5 s)
    assert info.settled and info.reference == "baseline" and info.judged_on == "temperature_and_power"
    assert 55.6 <= info.waited_s <= 58.5
    assert info.temperature_c["GPU-hot"] <= 45.0 and info.reference_temperature_c == {"GPU-hot": 40.0}
    assert info.power_w is not None and info.power_w <= 105.0 and info.reference_power_w == IDLE_W
    assert last is not None and last.power_w == info.power_w
    assert trace[0].devices[0].temperature_c == 70 and trace[-1].t_s == pytest.approx(last.t_s)
    assert settle_warnings(info, SETTINGS) == []


def test_a_gpu_that_does_not_cool_in_time_is_a_not_settled_warning(
    hot_gpu: NvmlPower, clock: SimulatedClock
) -> None:
    short = SETTINGS.model_copy(update={"timeout_s": 20.0})
    info, _ = gate(hot_gpu, clock, reference(), short)
    assert not info.settled and info.waited_s <= 20.0
    (warning,) = settle_warnings(info, short)
    assert warning.kind == "not_settled"
    assert (
        "not back at idle after settle.timeout_s (20 s)" in warning.message
        and "against 40 °C" in warning.message
    )


def test_power_alone_keeps_the_gate_closed_when_the_temperature_already_looks_settled(
    monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> None:
    """The sensor reads idle but the GPU draws 30 W over its baseline (a clock state, a tenant)."""
    source = nvml_source(monkeypatch, clock, FakeGpu(uuid="GPU-hot", temperature_c=41, power_w=130.0))
    info, _ = gate(source, clock, reference(), SETTINGS.model_copy(update={"timeout_s": 10.0}))
    assert not info.settled and info.temperature_c == {"GPU-hot": 41.0} and info.power_w == 130.0
    source.close()


def test_a_gpu_cooler_than_its_reference_is_settled_at_once(
    hot_gpu: NvmlPower, clock: SimulatedClock
) -> None:
    info, _ = gate(hot_gpu, clock, reference(temperature_c={"GPU-hot": 80.0}, power_w=200.0))
    assert info.settled and info.waited_s == pytest.approx(SETTINGS.probe_s, abs=0.11)


def test_with_no_baseline_yet_the_gate_waits_until_the_temperature_stops_falling(
    hot_gpu: NvmlPower, clock: SimulatedClock
) -> None:
    info, _ = gate(hot_gpu, clock, None)
    assert info.settled and info.reference == "trend" and info.judged_on == "temperature"
    # falls by < 1 °C over 20 s only once it is within ~2 °C of its idle 38 °C (after ~95 s)
    assert info.temperature_c["GPU-hot"] <= IDLE_C + 2 and info.waited_s >= 80.0
    assert info.reference_power_w is None and info.reference_temperature_c == {}


def test_a_cuda_context_baseline_is_settled_to_by_temperature_only(
    hot_gpu: NvmlPower, clock: SimulatedClock
) -> None:
    """Its power was measured with a context held: the gate reads without one, so power is no guide."""
    info, _ = gate(hot_gpu, clock, reference(method="cuda_context", power_w=10.0))
    assert info.settled and info.judged_on == "temperature"


def test_the_synthetic_source_has_no_temperature_so_power_alone_is_judged_and_said() -> None:
    source = SyntheticPower(idle_w=40.0)
    fast = SettleSettings(probe_s=0.1, poll_s=0.01)
    settled, _ = settle_gate(source, fast, reference(power_w=40.0, temperature_c={}), hz=100)
    assert settled.settled and settled.judged_on == "power" and settled.temperature_c == {}
    impatient = fast.model_copy(update={"timeout_s": 0.05})
    hot, _ = settle_gate(source, impatient, reference(power_w=30.0, temperature_c={}), hz=100)
    assert not hot.settled and hot.judged_on == "power"  # 40 W idle against a 30 W baseline
    (warning,) = settle_warnings(hot, impatient)
    assert "settle.timeout_s (0.05 s): idle power 40.0 W against 30.0 W;" in warning.message
    nothing, _ = settle_gate(source, fast, None, hz=100)
    assert nothing.settled and nothing.reference == "none" and nothing.judged_on == "nothing"


def test_a_disabled_gate_reads_nothing() -> None:
    info, last = settle_gate(SyntheticPower(), SettleSettings(enabled=False), None, hz=10)
    assert info.reference == "disabled" and info.waited_s == 0.0 and last is None


# --- the baseline: its temperature, its age, and the re-check before a cached one is reused


def test_the_baseline_records_each_gpus_temperature(hot_gpu: NvmlPower, clock: SimulatedClock) -> None:
    clock.advance(600)  # long cooled: 38 °C
    info = idle_baseline(hot_gpu, BaselineSettings(duration_s=0.2), hz=10, cache_dir=None)
    assert info.temperature_c == {"GPU-hot": 38.0} and info.age_s == 0.0 and info.recheck_w is None


def test_a_cached_baseline_is_reused_only_if_a_short_idle_read_agrees(tmp_path: Path) -> None:
    source = SyntheticPower(idle_w=40.0)
    settings = BaselineSettings(duration_s=0.05, recheck_s=0.02)
    first = idle_baseline(source, settings, hz=100, cache_dir=tmp_path)
    (entry,) = tmp_path.iterdir()
    aged = json.loads(entry.read_text())
    aged["measured_at"] = (datetime.now(timezone.utc) - timedelta(seconds=90)).isoformat()
    entry.write_text(json.dumps(aged))
    reused = idle_baseline(SyntheticPower(idle_w=41.0), settings, hz=100, cache_dir=tmp_path)  # +2.5 %
    assert reused.cached and reused.power_w == first.power_w == 40.0 and reused.recheck_w == 41.0
    assert 90.0 <= reused.age_s <= 120.0
    moved = idle_baseline(SyntheticPower(idle_w=48.0), settings, hz=100, cache_dir=tmp_path)  # +20 %
    assert not moved.cached and moved.power_w == 48.0 and moved.recheck_w == 48.0 and moved.age_s == 0.0
    assert cached_baseline(source, settings, tmp_path).power_w == 48.0  # type: ignore[union-attr]


def test_the_settle_gates_last_read_serves_as_the_recheck(tmp_path: Path) -> None:
    source = SyntheticPower(idle_w=40.0)
    settings = BaselineSettings(duration_s=0.05)
    idle_baseline(source, settings, hz=100, cache_dir=tmp_path)
    _, last = settle_gate(
        source, SettleSettings(probe_s=0.1), cached_baseline(source, settings, tmp_path), 100
    )
    calls = []
    counting = SyntheticPower(idle_w=40.0)
    counting.read = lambda: calls.append(1) or SyntheticPower.read(counting)  # type: ignore[method-assign]
    reused = idle_baseline(counting, settings, hz=100, cache_dir=tmp_path, recheck=last)
    assert reused.cached and reused.recheck_w == 40.0 and calls == []  # no second idle read


def test_a_baseline_measured_before_the_gpus_settled_is_used_but_never_cached(tmp_path: Path) -> None:
    settings = BaselineSettings(duration_s=0.05)
    idle_baseline(SyntheticPower(idle_w=40.0), settings, hz=100, cache_dir=tmp_path)
    warm = idle_baseline(SyntheticPower(idle_w=60.0), settings, hz=100, cache_dir=tmp_path, settled=False)
    assert warm.power_w == 60.0 and not warm.cached
    assert cached_baseline(SyntheticPower(), settings, tmp_path).power_w == 40.0  # type: ignore[union-attr]


def test_no_recheck_asked_reuses_the_cache_as_before(tmp_path: Path) -> None:
    settings = BaselineSettings(duration_s=0.05, recheck_s=0)
    idle_baseline(SyntheticPower(idle_w=40.0), settings, hz=100, cache_dir=tmp_path)
    again = idle_baseline(SyntheticPower(idle_w=80.0), settings, hz=100, cache_dir=tmp_path)
    assert again.cached and again.power_w == 40.0 and again.recheck_w is None


# --- a whole run


def test_a_run_after_a_heavy_one_waits_for_its_gpu_and_records_the_temperatures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    from camp_contract.models import MeasurementSettings, Workload
    from harness.run import run_experiment
    from tests.factories import run_spec

    monkeypatch.delenv("NVIDIA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # the harness pins it: restored after
    spec = run_spec(
        params={"work_ms_per_token": 1.0},
        workload=Workload(n_requests=4, max_output_tokens=10),
        measurement=MeasurementSettings(
            power_source="nvml",
            sample_hz=50,
            baseline=BaselineSettings(duration_s=0.1),
            settle=SettleSettings(temperature_tolerance_c=3.0, probe_s=0.1, poll_s=0.05, steady_s=0.1),
        ),
    )
    idle = FakeGpu(uuid="GPU-hot", power_w=IDLE_W, temperature_c=40)
    monkeypatch.setattr(nvml, "pynvml", FakeNvml([idle]))
    first = run_experiment(spec, tmp_path / "c0", results_root=tmp_path)  # caches the idle baseline
    assert first.baseline.temperature_c == {"GPU-hot": 40.0} and not first.baseline.cached
    # the next run starts right after a heavy one: 70 °C, back within 3 °C of 40 °C after ~0.9 s
    warm = cooling(hot_c=70.0, idle_c=38.0, tau_s=0.5)
    hot = FakeGpu(uuid="GPU-hot", temperature_trace=warm, trace=leaking(IDLE_W, warm, 40.0, w_per_c=1.0))
    monkeypatch.setattr(nvml, "pynvml", FakeNvml([hot]))
    second = run_experiment(spec.model_copy(update={"cycle": 1}), tmp_path / "c1", results_root=tmp_path)
    settle = second.settle
    assert settle is not None and settle.settled and settle.reference == "baseline"
    assert settle.waited_s >= 0.4 and settle.temperature_c["GPU-hot"] <= 43.0
    assert settle.reference_temperature_c == {"GPU-hot": 40.0} and settle.reference_power_w == IDLE_W
    assert (
        second.baseline.cached and second.baseline.recheck_w == settle.power_w and second.baseline.age_s > 0
    )
    assert second.window_start_temperature_c["GPU-hot"] <= 43.0
    assert [w for w in second.warnings if w.kind == "not_settled"] == []
    table = pq.read_table(tmp_path / "c1" / "timeseries.parquet").to_pandas()
    gate = table[table.phase == "settle"]
    assert gate.temperature_c.iloc[0] >= 50 and gate.temperature_c.dropna().iloc[-1] <= 43


def test_results_written_before_the_settle_gate_still_load() -> None:
    from camp_contract.models import RunResult
    from tests.factories import make_result, run_spec

    written = json.loads(make_result(run_spec()).model_dump_json())
    for key in ("settle", "window_start_temperature_c"):
        written.pop(key)
    for key in ("temperature_c", "age_s", "recheck_w"):
        written["baseline"].pop(key)
    old = RunResult.model_validate(written)
    assert old.settle is None and old.window_start_temperature_c == {} and old.baseline.age_s == 0.0
