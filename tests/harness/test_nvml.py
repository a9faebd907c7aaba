from __future__ import annotations

import time

import pytest

from harness.measurement import nvml
from harness.measurement.energy import counter_delta, energy_info, integrate
from harness.measurement.nvml import GpuSelectionError, NvmlPower, select_devices
from harness.measurement.power import DeviceInfo
from harness.measurement.sampler import Sampler
from tests.harness.fake_nvml import FakeGpu, FakeNvml

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
    source = NvmlPower({"CUDA_VISIBLE_DEVICES": "0"})
    with Sampler(source, hz=50) as sampler:
        start = sampler.mark()
        time.sleep(1.0)
        end = sampler.mark()
    readings = sampler.snapshot()
    info = energy_info(readings, start, end, baseline_w=0.0)
    assert info.method == "counter"
    assert integrate(readings, start, end) == pytest.approx(100.0 * (end - start), rel=1e-6)
    # the counter advances in 100 ms steps, so it is within one step of the truth
    assert counter_delta(readings, start, end) == pytest.approx(100.0 * (end - start), abs=100.0 * 0.1 + 0.01)
    assert info.disagreement is not None and info.disagreement < 0.15


def test_a_gpu_without_counter_falls_back_to_integration(fake: FakeNvml) -> None:
    for gpu in fake.gpus:
        gpu.has_counter = False
        gpu.has_power_fields = False
    source = NvmlPower({})
    reading = source.read()
    assert all(d.energy_j is None for d in reading.devices)
    assert reading.devices[0].power_avg_1s_w is None
    info = energy_info([reading, source.read()], reading.t_s, source.read().t_s + 1, baseline_w=0.0)
    assert info.method == "integration" and info.counter_j is None and info.disagreement is None


def test_nvml_init_failure_is_a_run_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.contract import RunSpec
    from harness.run import RunError, open_power_source

    class NoDriver(FakeNvml):
        def nvmlInit(self) -> None:
            raise self.NVMLError("Driver Not Loaded")

    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    spec = RunSpec(campaign="t", exp_id="e", cycle=0, backend="stub", model="m")
    with pytest.raises(RunError, match="NVML power source unavailable: Driver Not Loaded"):
        open_power_source(spec)
