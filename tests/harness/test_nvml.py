from __future__ import annotations

import itertools
import statistics
import time

import pytest

from harness.measurement import nvml
from harness.measurement.counter_step import change_instants
from harness.measurement.energy import (
    DISAGREEMENT_WARN,
    counter_delta,
    energy_info,
    integrate,
    warnings_for,
)
from harness.measurement.nvml import GpuSelectionError, NvmlPower, select_devices
from harness.measurement.power import DeviceInfo, Reading
from harness.measurement.sampler import Sampler
from tests.factories import run_spec
from tests.harness import fake_nvml
from tests.harness.fake_nvml import (
    COUNTER_JITTER_S,
    COUNTER_UPDATE_S,
    FakeGpu,
    FakeNvml,
    SimulatedClock,
)

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-cccc3333-0000", "GPU-dddd4444-0000"]
DEVICES = [DeviceInfo(i, u, "H100") for i, u in enumerate(UUIDS)]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml([FakeGpu(uuid=u, power_w=100.0 + 100 * i) for i, u in enumerate(UUIDS)])
    monkeypatch.setattr(nvml, "pynvml", fake)
    return fake


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, UUIDS),
        ({"CUDA_VISIBLE_DEVICES": "2,0"}, [UUIDS[2], UUIDS[0]]),
        ({"CUDA_VISIBLE_DEVICES": "GPU-bbbb"}, [UUIDS[1]]),  # UUID prefixes, as CUDA accepts them
        ({"NVIDIA_VISIBLE_DEVICES": "GPU-dddd4444-0000,GPU-aaaa1111-0000"}, [UUIDS[3], UUIDS[0]]),
        ({"NVIDIA_VISIBLE_DEVICES": "all"}, UUIDS),
        ({"NVIDIA_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "3"}, [UUIDS[3]]),  # CUDA wins
    ],
)
def test_select_devices_by_uuid_or_pci_order_index(environ: dict[str, str], expected: list[str]) -> None:
    assert [d.uuid for d in select_devices(DEVICES, environ)] == expected


def test_inside_a_container_nvml_sees_only_the_granted_gpus() -> None:
    # NVIDIA_VISIBLE_DEVICES=2,3 on the host: the container's NVML enumerates just those two
    granted = [DeviceInfo(0, UUIDS[2], "H100"), DeviceInfo(1, UUIDS[3], "H100")]
    assert [d.uuid for d in select_devices(granted, {"NVIDIA_VISIBLE_DEVICES": "2,3"})] == UUIDS[2:]


@pytest.mark.parametrize(
    "environ",
    [
        {"CUDA_VISIBLE_DEVICES": "7"},
        {"CUDA_VISIBLE_DEVICES": "GPU-zzzz"},
        {"CUDA_VISIBLE_DEVICES": ""},
        {"NVIDIA_VISIBLE_DEVICES": "none"},
    ],
)
def test_a_gpu_that_is_not_there_is_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(GpuSelectionError):
        select_devices(DEVICES, environ)


def test_nvml_source_reads_the_selected_gpus_in_watts_and_joules(fake: FakeNvml) -> None:
    source = NvmlPower({"CUDA_VISIBLE_DEVICES": f"{UUIDS[1]},{UUIDS[3]}"})
    assert [d.uuid for d in source.devices()] == [UUIDS[1], UUIDS[3]]
    reading = source.read()
    assert [d.power_w for d in reading.devices] == [200.0, 400.0]
    assert reading.power_w == 600.0
    assert reading.devices[0].gpu_util_pct == 97 and reading.devices[0].temperature_c == 45
    described = source.describe()
    assert described[0]["power_limit_w"] == 700.0 and described[0]["energy_counter"] is True
    assert source.driver() == {"driver_version": "550.54.15", "cuda_driver_version": "12.4"}
    source.close()
    assert fake.initialised == 0


def test_counter_and_integration_agree_on_a_steady_gpu(fake: FakeNvml) -> None:
    """Real time, real sampler thread: the counter's ~100 ms steps bound the plain delta's error
    on a short window; refined at the edges by 50 Hz samples, the estimate is far closer."""
    source = NvmlPower({"CUDA_VISIBLE_DEVICES": "0"})
    with Sampler(source, hz=50) as sampler:
        time.sleep(0.5)  # a trace before the window, as the run's load and warmup give
        start = sampler.mark()
        time.sleep(1.0)
        end = sampler.mark()
    readings = sampler.snapshot()
    info = energy_info(readings, start, end, baseline_w=0.0)
    longest_step = COUNTER_UPDATE_S + 2 * COUNTER_JITTER_S
    assert integrate(readings, start, end) == pytest.approx(100.0 * (end - start), rel=1e-6)
    assert counter_delta(readings, start, end) == pytest.approx(
        100.0 * (end - start), abs=100.0 * longest_step + 0.01
    )
    if info.method == "counter_refined":  # unless a starved CPU slowed the sampler below 20 Hz
        assert info.total_j == pytest.approx(100.0 * (end - start), abs=100.0 * 0.03)


def simulated(monkeypatch: pytest.MonkeyPatch, gpus: list[FakeGpu]) -> tuple[FakeNvml, SimulatedClock]:
    clock = SimulatedClock()
    fake = FakeNvml(gpus, clock=clock)
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "time", clock)  # the readings' timestamps follow the same clock
    return fake, clock


def sample(source: NvmlPower, clock: SimulatedClock, seconds: float, hz: float) -> list[Reading]:
    readings = [source.read()]
    for _ in range(round(seconds * hz)):
        clock.advance(1 / hz)
        readings.append(source.read())
    return readings


def test_on_a_steady_ten_second_window_counter_and_integration_agree_within_2_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, clock = simulated(monkeypatch, [FakeGpu(uuid=UUIDS[0], power_w=250.0)])
    source = NvmlPower({})
    clock.advance(0.037)  # reads fall between counter updates, as they do on a real GPU
    readings = sample(source, clock, seconds=10.0, hz=10)
    start, end = readings[0].t_s, readings[-1].t_s
    info = energy_info(readings, start, end, baseline_w=0.0)
    assert info.method == "counter"
    assert info.integrated_j == pytest.approx(250.0 * (end - start))
    assert info.counter_j == pytest.approx(250.0 * (end - start), abs=250.0 * COUNTER_UPDATE_S)
    assert info.disagreement is not None and info.disagreement < DISAGREEMENT_WARN
    assert warnings_for(readings, start, end, info, sample_period_s=0.1) == []


def test_power_that_changes_faster_than_the_sampling_raises_the_disagreement_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 300 W for the first 20 ms of every 100 ms, 60 W otherwise (mean 108 W); the part-time
    # sensor averages the first 25 ms of each 100 ms (252 W) and never sees the rest — the
    # counter still sees the truth
    def joules(t: float) -> float:
        full, rest = divmod(t, 0.1)
        return 60.0 * t + 240.0 * (full * 0.02 + min(rest, 0.02))

    gpu = FakeGpu(uuid=UUIDS[0], trace=lambda t: 300.0 if (t % 0.1) < 0.02 else 60.0, trace_energy=joules)
    _, clock = simulated(monkeypatch, [gpu])
    source = NvmlPower({})
    clock.advance(0.01)
    readings = sample(source, clock, seconds=5.0, hz=10)
    start, end = readings[0].t_s, readings[-1].t_s
    info = energy_info(readings, start, end, baseline_w=0.0)
    assert info.total_j == info.counter_j == pytest.approx(108.0 * (end - start), rel=0.02)
    assert info.integrated_j == pytest.approx(252.0 * (end - start), rel=0.01)
    assert any("disagree by" in w.message for w in warnings_for(readings, start, end, info, 0.1))


def test_units_are_watts_and_joules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, clock = simulated(monkeypatch, [FakeGpu(uuid=UUIDS[0], power_w=123.456)])
    source = NvmlPower({})
    first = source.read()
    clock.advance(2.0)
    second = source.read()
    assert first.devices[0].power_w == pytest.approx(123.456)  # NVML says 123456 mW
    assert first.devices[0].power_avg_1s_w == pytest.approx(123.456)
    assert second.energy_j is not None and first.energy_j is not None
    gpu = fake.gpus[0]  # the counter holds the energy up to its last update, in whole mJ
    assert gpu.energy_mj == pytest.approx(123456 * (gpu.last_update - fake.started))
    assert second.energy_j - first.energy_j == int(gpu.energy_mj) / 1000  # mJ → J


def test_a_pre_volta_gpu_is_metered_by_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    _, clock = simulated(monkeypatch, [FakeGpu.pre_volta(UUIDS[0], power_w=150.0)])
    source = NvmlPower({})
    readings = sample(source, clock, seconds=3.0, hz=10)
    assert all(d.energy_j is None and d.power_avg_1s_w is None for r in readings for d in r.devices)
    info = energy_info(readings, readings[0].t_s, readings[-1].t_s, baseline_w=50.0)
    assert info.method == "integration" and info.counter_j is None and info.disagreement is None
    assert info.total_j == pytest.approx(150.0 * 3.0) and info.adjusted_j == pytest.approx(100.0 * 3.0)
    assert source.describe()[0]["energy_counter"] is False


def test_one_gpu_without_a_counter_makes_the_whole_run_integrate(monkeypatch: pytest.MonkeyPatch) -> None:
    _, clock = simulated(monkeypatch, [FakeGpu(uuid=UUIDS[0]), FakeGpu.pre_volta(UUIDS[1])])
    readings = sample(NvmlPower({}), clock, seconds=1.0, hz=10)
    info = energy_info(readings, readings[0].t_s, readings[-1].t_s, baseline_w=0.0)
    assert info.method == "integration" and info.total_j == pytest.approx((300.0 + 150.0) * 1.0)


def test_a_gpu_that_is_not_there_fails_clearly_and_shuts_nvml_down(fake: FakeNvml) -> None:
    with pytest.raises(GpuSelectionError, match=r"CUDA_VISIBLE_DEVICES names '9', but NVML sees: 0=GPU-aaaa"):
        NvmlPower({"CUDA_VISIBLE_DEVICES": "9"})
    assert fake.initialised == 0


def test_the_fake_refuses_calls_before_init_like_real_nvml() -> None:
    fake = FakeNvml([FakeGpu(uuid=UUIDS[0])])
    with pytest.raises(fake.NVMLError):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    with pytest.raises(fake.NVMLError):
        fake.nvmlDeviceGetHandleByIndex(1)


def test_nvml_init_failure_is_a_run_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.run import RunError, open_power_source

    class NoDriver(FakeNvml):
        def nvmlInit(self) -> None:
            raise self.NVMLError("Driver Not Loaded")

    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    spec = run_spec()
    with pytest.raises(RunError, match="NVML power source unavailable: Driver Not Loaded"):
        open_power_source(spec)


def test_the_snapshot_records_modes_clocks_temperature_and_how_power_was_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hopper = FakeGpu(uuid=UUIDS[0], temperature_c=38, mig_mode=(0, 1), persistence_mode=0)
    hopper.app_clocks_mhz = {fake_nvml.NVML_CLOCK_SM: 1410, fake_nvml.NVML_CLOCK_MEM: 2619}  # lowered
    gpus = [hopper, FakeGpu.geforce(UUIDS[1]), FakeGpu.pre_volta(UUIDS[2])]
    simulated(monkeypatch, gpus)
    h100, rtx, p100 = NvmlPower({}).describe()
    assert h100["power_reading"] == "instant" and h100["compute_capability"] == "9.0"
    assert h100["ecc_mode"] == {"current": True, "pending": True}
    assert h100["mig_mode"] == {"current": False, "pending": True}  # MIG on at the next reset
    assert h100["persistence_mode"] is False and h100["temperature_c"] == 38
    assert (h100["sm_clock_mhz"], h100["mem_clock_mhz"]) == (1755, 2619)
    assert (h100["sm_app_clock_mhz"], h100["sm_app_clock_default_mhz"]) == (1410, 1755)
    assert (h100["sm_clock_max_mhz"], h100["mem_clock_max_mhz"]) == (1980, 2619)
    # Ampere without the power field: nvmlDeviceGetPowerUsage, a 1 s average; no ECC, no MIG
    assert rtx["power_reading"] == "average_1s" and rtx["compute_capability"] == "8.6"
    assert rtx["ecc_mode"] is None and rtx["mig_mode"] is None
    # Pascal: power usage is instantaneous; ECC on its HBM2, no MIG
    assert p100["power_reading"] == "instant_usage" and p100["energy_counter"] is False
    assert p100["ecc_mode"] == {"current": True, "pending": True} and p100["mig_mode"] is None


def test_a_gpu_whose_architecture_nvml_does_not_tell_reads_plain_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoCapability(FakeNvml):
        def nvmlDeviceGetCudaComputeCapability(self, gpu: FakeGpu) -> tuple[int, int]:
            raise self.NVMLError_NotSupported("Not Supported")

    monkeypatch.setattr(nvml, "pynvml", NoCapability([FakeGpu.geforce(UUIDS[0])]))
    (gpu,) = NvmlPower({}).describe()
    assert gpu["power_reading"] == "usage" and gpu["compute_capability"] is None


@pytest.mark.parametrize(
    ("fields", "capability", "expected"),
    [
        (True, (6, 0), "instant"),
        (False, (8, 0), "average_1s"),
        (False, (10, 0), "average_1s"),
        (False, (7, 5), "instant_usage"),
        (False, None, "usage"),
    ],
)
def test_power_reading_kind(fields: bool, capability: tuple[int, int] | None, expected: str) -> None:
    assert nvml.power_reading(fields, capability) == expected


def test_the_fake_counter_updates_about_every_100_ms_never_on_a_fixed_beat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, clock = simulated(monkeypatch, [FakeGpu(uuid=UUIDS[0], power_w=200.0)])
    readings = sample(NvmlPower({}), clock, seconds=3.0, hz=1000)
    instants = change_instants(readings, 0)
    spacing = [b - a for a, b in itertools.pairwise(instants)]
    assert len(instants) == pytest.approx(30, abs=1)
    assert statistics.median(spacing) == pytest.approx(COUNTER_UPDATE_S, abs=0.005)
    assert max(spacing) - min(spacing) > COUNTER_JITTER_S  # jittered...
    assert all(abs(s - COUNTER_UPDATE_S) <= 2 * COUNTER_JITTER_S + 0.001 for s in spacing)  # ...within bounds


def test_the_fake_senses_instant_power_a_quarter_of_the_time_and_averages_usage_over_1_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 300 W in the last 50 ms of every 100 ms, 60 W in the first 50 (mean 180 W): the 25 ms
    # sensing slice at the start of each period never sees the 300 W (Yang et al., A100/H100)
    def joules(t: float) -> float:
        full, rest = divmod(t, 0.1)
        return 180.0 * full * 0.1 + 60.0 * min(rest, 0.05) + 300.0 * max(rest - 0.05, 0.0)

    gpu = FakeGpu(uuid=UUIDS[0], trace=lambda t: 60.0 if (t % 0.1) < 0.05 else 300.0, trace_energy=joules)
    fake, clock = simulated(monkeypatch, [gpu])
    source = NvmlPower({})
    readings = sample(source, clock, seconds=2.0, hz=100)[100:]  # after the first second
    assert {d.power_w for r in readings for d in r.devices} == {60.0}
    assert all(d.power_avg_1s_w == pytest.approx(180.0, abs=1.0) for r in readings for d in r.devices)
    assert fake.nvmlDeviceGetPowerUsage(gpu) == pytest.approx(180_000, abs=1000)
    info = energy_info(readings, readings[0].t_s, readings[-1].t_s, baseline_w=0.0)
    assert info.integrated_j == pytest.approx(60.0 * 1.0, rel=0.01)  # what the sensor saw
    assert info.total_j == pytest.approx(180.0 * 1.0, rel=0.02)  # the counter saw it all
