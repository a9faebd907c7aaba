"""The GPUs the backend computes on are the GPUs that are metered; the cuda_context baseline;
the CLI's one-line reasons; the sampler-rate warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from camp_contract.atomic import atomic_write_text
from camp_contract.models import BaselineSettings, MeasurementSettings, RunSpec, SettleSettings, Workload
from harness.measurement import nvml
from harness.measurement.baseline import baseline_warnings, idle_baseline
from harness.measurement.cuda_context import CudaContextError, cuda_context_held
from harness.measurement.energy import sampling_warnings
from harness.measurement.nvml import NvmlPower
from harness.measurement.power import DeviceReading, Reading
from harness.measurement.synthetic import SyntheticPower
from harness.run import open_power_source
from tests.factories import run_spec
from tests.harness.fake_nvml import FakeGpu, FakeNvml, SimulatedClock

# NVML enumerates these in an order that is NOT their PCI bus order (it promises none):
# index 0 sits on bus 0x3b, index 1 on bus 0x18 — so CUDA's PCI-order device 0 is NVML's index 1.
SWAPPED = [
    FakeGpu(uuid="GPU-on-bus-3b", pci_bus_id="00000000:3B:00.0", power_w=100.0),
    FakeGpu(uuid="GPU-on-bus-18", pci_bus_id="00000000:18:00.0", power_w=200.0),
    FakeGpu(uuid="GPU-on-bus-86", pci_bus_id="00000000:86:00.0", power_w=300.0),
]
NVML_SPEC = run_spec()


@pytest.fixture
def swapped(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml([FakeGpu(**vars(g)) for g in SWAPPED])
    monkeypatch.setattr(nvml, "pynvml", fake)
    for variable in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        monkeypatch.delenv(variable, raising=False)
    return fake


@pytest.mark.parametrize(
    ("variable", "value", "metered", "cuda_visible"),
    [
        # an index counts in PCI bus order, as CUDA does under CUDA_DEVICE_ORDER=PCI_BUS_ID
        ("CUDA_VISIBLE_DEVICES", "0", ["GPU-on-bus-18"], "0"),
        ("CUDA_VISIBLE_DEVICES", "2,1", ["GPU-on-bus-86", "GPU-on-bus-3b"], "2,1"),
        # a UUID is rewritten to its position: vLLM parses the variable as integers
        ("CUDA_VISIBLE_DEVICES", "GPU-on-bus-3b", ["GPU-on-bus-3b"], "1"),
        # outside a container CUDA ignores NVIDIA_VISIBLE_DEVICES: it must be pinned for CUDA too
        ("NVIDIA_VISIBLE_DEVICES", "GPU-on-bus-86", ["GPU-on-bus-86"], "2"),
        ("NVIDIA_VISIBLE_DEVICES", "all", ["GPU-on-bus-18", "GPU-on-bus-3b", "GPU-on-bus-86"], "0,1,2"),
    ],
)
def test_cuda_is_pinned_to_exactly_the_metered_gpus(
    swapped: FakeNvml,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    metered: list[str],
    cuda_visible: str,
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")  # would make CUDA count differently
    source = open_power_source(NVML_SPEC)
    try:
        assert [d.uuid for d in source.devices()] == metered
        assert os.environ["CUDA_VISIBLE_DEVICES"] == cuda_visible
        assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        # and the watts read are those of the metered GPUs, found by UUID — not by NVML index
        watts = {g.uuid: g.power_w for g in SWAPPED}
        assert [d.power_w for d in source.read().devices] == [watts[u] for u in metered]
    finally:
        source.close()


@contextmanager
def raised_power(fake: FakeNvml, watts: float) -> Iterator[None]:
    """Stands in for the CUDA context holder: a context puts the GPU in a higher power state."""
    before = [g.power_w for g in fake.gpus]
    for gpu in fake.gpus:
        gpu.power_w = watts
    try:
        yield
    finally:
        for gpu, power in zip(fake.gpus, before, strict=True):
            gpu.power_w = power


def test_cuda_context_baseline_is_measured_while_the_context_is_held_and_cached_apart(
    swapped: FakeNvml, tmp_path: Path
) -> None:
    source = NvmlPower({"CUDA_VISIBLE_DEVICES": "0"})  # GPU-on-bus-18, 200 W bare idle
    try:
        bare = idle_baseline(source, BaselineSettings(duration_s=0.05), hz=100, cache_dir=tmp_path)
        settings = BaselineSettings(duration_s=0.05, method="cuda_context")
        held = idle_baseline(
            source, settings, hz=100, cache_dir=tmp_path, hold_context=lambda: raised_power(swapped, 260.0)
        )
        assert (bare.method, bare.power_w) == ("bare_idle", 200.0)
        assert (held.method, held.power_w, held.cached) == ("cuda_context", 260.0, False)
        # each method has its own cache entry: neither is served the other's value
        again = idle_baseline(  # re-checked under a context too before it is reused
            source, settings, hz=100, cache_dir=tmp_path, hold_context=lambda: raised_power(swapped, 260.0)
        )
        assert again.cached and again.power_w == 260.0
        assert (
            idle_baseline(source, BaselineSettings(duration_s=0.05), hz=100, cache_dir=tmp_path).power_w
            == 200.0
        )
        assert len(list(tmp_path.iterdir())) == 2
    finally:
        source.close()


def test_the_context_holder_is_alive_inside_the_block_and_gone_after(tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    holder = [
        sys.executable,
        "-c",
        f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); p.touch(); print('ready', flush=True); "
        "sys.stdin.read(); p.unlink()",
    ]
    with cuda_context_held(holder):
        assert marker.exists()
    assert not marker.exists()  # it ended when the block did


def test_a_context_that_cannot_open_is_one_clear_reason() -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('RuntimeError: Found no NVIDIA driver')"]
    reason = "could not open a CUDA context: RuntimeError: Found no NVIDIA"
    with pytest.raises(CudaContextError, match=reason), cuda_context_held(failing):
        pass
    hung = [sys.executable, "-c", "import time; time.sleep(60)"]
    started = time.monotonic()
    with pytest.raises(CudaContextError, match=r"no context after 0\.5 s"), cuda_context_held(hung, 0.5):
        pass
    assert time.monotonic() - started < 10


def test_the_default_holder_without_a_gpu_fails_clearly() -> None:
    """The real holder script, here where torch sees no CUDA device (CPU-only torch)."""
    with pytest.raises(CudaContextError, match="could not open a CUDA context"), cuda_context_held():
        pass


def test_a_sampler_that_fell_behind_is_a_warning() -> None:
    def readings(n: int, seconds: float) -> list[Reading]:
        return [
            Reading(seconds * k / (n - 1), (DeviceReading(power_w=1.0, energy_j=None),)) for k in range(n)
        ]

    slow = readings(12, 2.0)  # 10 samples + 2 edge marks over 2 s, where 10 Hz asks for 20
    assert "the sampler reached 5.0 Hz of the 10 Hz asked" in " ".join(
        w.message for w in sampling_warnings(slow, 0.0, 2.0, 10)
    )
    assert sampling_warnings(readings(22, 2.0), 0.0, 2.0, 10) == []


def harness(spec_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", str(spec_path)], capture_output=True, text=True, timeout=120
    )


def test_bad_backend_params_exit_2_naming_the_field_on_one_line(tmp_path: Path) -> None:
    spec = run_spec(measurement=MeasurementSettings(power_source="synthetic")).model_dump(mode="json")
    spec["params"].update(batch_size=0, work_ms_per_tokn=1)  # no spec this bad can be built in Python
    path = tmp_path / "t" / "e" / "c0" / "spec.json"
    atomic_write_text(path, json.dumps(spec))
    done = harness(path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is not a valid spec (params.batch_size: Input should be greater than or equal to 1" in done.stderr
    assert "(and 1 more)" in done.stderr
    assert not (path.parent / "result.json").exists()


def test_the_result_records_the_resolved_spec(tmp_path: Path) -> None:
    spec = run_spec(
        params={"work_ms_per_token": 0.5},
        workload=Workload(n_requests=2, max_output_tokens=4),
        measurement=MeasurementSettings(power_source="synthetic", baseline=BaselineSettings(enabled=False)),
    )
    path = tmp_path / "t" / "e" / "c0" / "spec.json"
    atomic_write_text(path, spec.model_dump_json())
    done = harness(path)
    assert done.returncode == 0, done.stderr
    from camp_contract.models import RunResult

    result = RunResult.model_validate_json((path.parent / "result.json").read_text())
    assert RunSpec.model_validate(result.environment["spec"]) == spec


def test_an_unsteady_idle_baseline_is_a_warning() -> None:
    class Settling(SyntheticPower):
        """A GPU still cooling down from the previous run: idle power falls 90 → 50 W."""

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def read(self) -> Reading:
            self.calls += 1
            watts = max(50.0, 90.0 - 4.0 * self.calls)
            return Reading(time.monotonic(), (DeviceReading(power_w=watts, energy_j=None),))

    settling = idle_baseline(Settling(), BaselineSettings(duration_s=0.1), hz=100, cache_dir=None)
    assert "idle power was unsteady during the baseline" in " ".join(
        w.message for w in baseline_warnings(settling)
    )
    steady = idle_baseline(SyntheticPower(), BaselineSettings(duration_s=0.1), hz=100, cache_dir=None)
    assert baseline_warnings(steady) == []


def test_at_100_hz_power_and_energy_every_sample_the_slow_facts_at_10_hz(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SimulatedClock()
    monkeypatch.setattr(nvml, "pynvml", FakeNvml([FakeGpu(uuid="GPU-a")], clock=clock))
    monkeypatch.setattr(nvml, "time", clock)
    source = NvmlPower({})
    readings = []
    for _ in range(100):  # one second at 100 Hz
        readings.append(source.read())
        clock.advance(0.01)
    devices = [r.devices[0] for r in readings]
    assert all(d.power_w == 300.0 and d.energy_j is not None for d in devices)
    with_temperature = [d for d in devices if d.temperature_c is not None]
    assert 9 <= len(with_temperature) <= 11 and devices[0].temperature_c == 45
    assert all(d.gpu_util_pct is not None and d.sm_clock_mhz is not None for d in with_temperature)


def test_a_freshly_measured_baseline_is_in_the_timeseries_on_the_same_clock(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from harness.run import run_experiment

    spec = run_spec(
        params={"work_ms_per_token": 1.0},
        workload=Workload(n_requests=4, max_output_tokens=10),
        measurement=MeasurementSettings(
            power_source="synthetic", sample_hz=100, baseline=BaselineSettings(duration_s=0.2)
        ),
    )
    run_dir = tmp_path / "t" / "e" / "c0"
    fresh = run_experiment(spec, run_dir, results_root=tmp_path)
    table = pq.read_table(run_dir / "timeseries.parquet").to_pylist()
    baseline = [row for row in table if row["phase"] == "baseline"]
    assert len(baseline) == fresh.baseline.n_samples and {r["power_w"] for r in baseline} == {40.0}
    order = [row["phase"] for row in table]  # the settle gate's idle read comes first, then the baseline
    assert table[0]["t_s"] == 0.0 and set(order[: order.index("baseline")]) == {"settle"}
    measured = [row["t_s"] for row in table if row["phase"] == "measured"]
    assert min(measured) == pytest.approx(fresh.window[0]) and max(measured) == pytest.approx(fresh.window[1])
    cached = run_experiment(spec, run_dir, results_root=tmp_path)
    assert cached.baseline.cached
    phases = {row["phase"] for row in pq.read_table(run_dir / "timeseries.parquet").to_pylist()}
    assert "baseline" not in phases and {"settle", "measured"} <= phases


def test_a_power_field_that_answers_zero_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    class ZeroInstant(FakeNvml):
        """A driver that lists the instant-power field but fills it with 0."""

        def nvmlDeviceGetFieldValues(self, gpu: FakeGpu, field_ids: list[int]) -> list[Any]:
            values = super().nvmlDeviceGetFieldValues(gpu, field_ids)
            for value in values:
                value.value.uiVal = 0
            return values

    monkeypatch.setattr(nvml, "pynvml", ZeroInstant([FakeGpu(uuid="GPU-a", power_w=250.0)]))
    source = NvmlPower({})
    reading = source.read().devices[0]
    assert reading.power_w == 250.0 and reading.power_avg_1s_w is None  # from nvmlDeviceGetPowerUsage


def test_another_process_on_the_run_gpu_is_a_warning(
    swapped: FakeNvml, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from harness.run import run_experiment

    swapped.gpus[1].compute_pids = (4242, 4343)  # GPU-on-bus-18: PCI position 0
    swapped.gpus[0].compute_pids = (99,)  # GPU-on-bus-3b: not this run's, so none of its business
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    spec = run_spec(
        params={"work_ms_per_token": 0.1},
        workload=Workload(n_requests=2, max_output_tokens=4),
        measurement=MeasurementSettings(
            power_source="nvml",
            baseline=BaselineSettings(duration_s=0.05),
            settle=SettleSettings(probe_s=0.1, poll_s=0.05, steady_s=0.2),
        ),
    )
    result = run_experiment(spec, tmp_path / "run", results_root=None)
    others = [w.message for w in result.warnings if w.kind == "other_processes"]
    assert others == [
        "2 other compute process(es) held GPU GPU-on-bus-18 when the run started: their draw is in "
        "the baseline and in the measured energy"
    ]
    assert [g["uuid"] for g in result.environment["gpus"]] == ["GPU-on-bus-18"]
