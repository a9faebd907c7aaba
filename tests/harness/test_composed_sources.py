"""Composed power sources in whole runs of the stub: the synthetic GPU source (the headline, as
before) with RAPL read from a fake powercap tree beside it, the energy per source and per device,
RAPL's own idle power from the same baseline window, the trace's rows per source, the runs
table, and results written before sources composed."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from camp_contract.models import BaselineSettings, MeasurementSettings, RunResult, RunSpec
from camp_contract.params import StubParams
from harness.measurement import nvml, rapl
from harness.measurement.baseline import cached_baseline, idle_baseline
from harness.measurement.composed import ComposedSource
from harness.measurement.synthetic import SyntheticPower
from harness.run import PreflightError, run_experiment
from orchestrator.aggregate import metric_row
from orchestrator.grid import Experiment
from tests.factories import make_result, run_spec
from tests.harness.fake_nvml import FakeNvml
from tests.harness.fake_rapl import FakeRapl, two_socket_server
from tests.harness.test_harness_run import make_spec, write_spec

PACKAGE_W, DRAM_W = 30.0, 5.0


def with_rapl(spec: RunSpec) -> RunSpec:
    measurement = spec.measurement.model_copy(update={"extra_power_sources": ("rapl",)})
    return spec.model_copy(update={"measurement": measurement})


@pytest.fixture
def fake_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRapl:
    fake = FakeRapl(tmp_path / "powercap")
    fake.add("intel-rapl:0", "package-0")
    fake.add("intel-rapl:0:0", "core")
    fake.add("intel-rapl:0:1", "dram")
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (fake.class_root,))
    return fake


def test_a_run_meters_the_gpu_source_as_before_and_rapl_beside_it(
    tmp_path: Path, fake_rapl: FakeRapl
) -> None:
    spec = with_rapl(make_spec(work_ms_per_token=6.0))
    baseline = spec.measurement.baseline.model_copy(update={"duration_s": 0.3})  # 30 RAPL reads
    spec = spec.model_copy(update={"measurement": spec.measurement.model_copy(update={"baseline": baseline})})
    path = write_spec(tmp_path / "results", spec)
    with fake_rapl.run_at({"intel-rapl:0": PACKAGE_W, "intel-rapl:0:1": DRAM_W}):
        result = run_experiment(spec, path.parent, results_root=tmp_path / "results")
    duration, energy = result.metrics.duration_s, result.energy
    # the headline is the synthetic GPU source's alone, exactly as without RAPL
    assert energy.counter_j == pytest.approx(160.0 * duration, rel=1e-3)
    assert result.baseline.power_w == 40.0 and result.metrics.energy_j == energy.total_j
    gpu, cpu = result.energy_by_source["synthetic"], result.energy_by_source["rapl"]
    assert list(result.energy_by_source) == ["synthetic", "rapl"]
    assert (gpu.role, gpu.total_j, gpu.adjusted_j, gpu.baseline_w) == (
        "gpu",
        energy.total_j,
        energy.adjusted_j,
        40.0,
    )
    assert gpu.per_device == {"SYNTHETIC-0": pytest.approx(energy.total_j)}
    # RAPL: its two domains (core is inside the package), joules from the µJ counter
    assert cpu.role == "extra" and cpu.method == "counter" and set(cpu.per_device) == {"package-0", "dram-0"}
    assert sum(cpu.per_device.values()) == pytest.approx(cpu.total_j)
    assert cpu.per_device["package-0"] == pytest.approx(PACKAGE_W * duration, rel=0.25)
    assert cpu.per_device["dram-0"] == pytest.approx(DRAM_W * duration, rel=0.25)
    # its own idle power, from the same baseline window, taken off its own figure
    idle = result.baseline.by_source["rapl"]
    assert idle.power_w == pytest.approx(PACKAGE_W + DRAM_W, rel=0.25) and cpu.baseline_w == idle.power_w
    assert cpu.adjusted_j == pytest.approx(cpu.total_j - idle.power_w * duration)
    assert [d["uuid"] for d in result.environment["extra_power_sources"]["rapl"]] == ["package-0", "dram-0"]
    # the trace: the GPU's rows as before, then RAPL's, each named by its source and domain
    table = pq.read_table(path.parent / "timeseries.parquet").to_pandas()
    assert set(zip(table.source, table.device, strict=True)) == {
        ("synthetic", "SYNTHETIC-0"),
        ("rapl", "package-0"),
        ("rapl", "dram-0"),
    }
    measured = table[(table.phase == "measured") & (table.source == "rapl")]
    deltas = measured.groupby("device").energy_j.agg(lambda e: e.iloc[-1] - e.iloc[0])
    assert deltas.sum() == pytest.approx(cpu.total_j)  # the figure is the trace's counter delta
    assert table[table.source == "synthetic"].power_w.isin([40.0, 160.0]).all()
    # the runs table: RAPL's totals beside the headline
    row = metric_row(result)
    assert (row["energy_rapl_j"], row["energy_rapl_adjusted_j"]) == (cpu.total_j, cpu.adjusted_j)
    assert "energy_synthetic_j" not in row  # the GPU source's are energy_j / energy_adjusted_j


def test_rapl_asked_for_but_unreadable_fails_preflight_with_the_reason(
    tmp_path: Path, fake_rapl: FakeRapl, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_rapl.deny(monkeypatch, "intel-rapl:0:1")
    spec = with_rapl(make_spec())
    path = write_spec(tmp_path, spec)
    with pytest.raises(PreflightError) as caught:
        run_experiment(spec, path.parent, results_root=tmp_path)
    (problem,) = caught.value.problems
    assert problem.startswith("RAPL power source unavailable: ")
    assert "intel-rapl:0:1/energy_uj is readable only by root" in problem
    assert "drop rapl from measurement.extra_power_sources" in problem
    assert not (path.parent / "result.json").exists()


def test_every_source_that_cannot_open_is_a_problem_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoDriver(FakeNvml):
        def nvmlInit(self) -> None:
            raise self.NVMLError("Driver Not Loaded")

    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (tmp_path / "nowhere",))
    spec = with_rapl(make_spec())
    spec = spec.model_copy(
        update={"measurement": spec.measurement.model_copy(update={"power_source": "nvml"})}
    )
    with pytest.raises(PreflightError) as caught:
        run_experiment(spec, tmp_path / "run", results_root=tmp_path)
    assert caught.value.problems == [
        "NVML power source unavailable: Driver Not Loaded",
        f"RAPL power source unavailable: {tmp_path / 'nowhere'} does not exist (no powercap here, or not "
        "mounted into the container)",
    ]


def test_a_run_that_asks_for_no_extra_source_never_reads_rapl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (tmp_path / "nowhere",))
    spec = make_spec()
    result = run_experiment(spec, write_spec(tmp_path, spec).parent, results_root=tmp_path)
    assert list(result.energy_by_source) == ["synthetic"] and result.baseline.by_source == {}


def test_a_cached_baseline_without_an_extra_sources_idle_power_is_measured_again(
    tmp_path: Path, fake_rapl: FakeRapl
) -> None:
    settings = BaselineSettings(duration_s=0.05, recheck_s=0)
    gpu_only = idle_baseline(SyntheticPower(), settings, hz=100, cache_dir=tmp_path)
    composed = ComposedSource("synthetic", SyntheticPower(), {"rapl": rapl.open_source({})})
    assert cached_baseline(composed, settings, tmp_path) == gpu_only  # the GPUs' reference still
    assert cached_baseline(composed, settings, tmp_path, extras=["rapl"]) is None
    measured = idle_baseline(composed, settings, hz=100, cache_dir=tmp_path, extras=["rapl"])
    assert not measured.cached and set(measured.by_source) == {"rapl"}
    reused = idle_baseline(composed, settings, hz=100, cache_dir=tmp_path, extras=["rapl"])
    assert reused.cached and reused.by_source == measured.by_source
    assert idle_baseline(SyntheticPower(), settings, hz=100, cache_dir=tmp_path).cached  # GPU-only reuses it


def test_a_disabled_baseline_subtracts_nothing_from_rapl_either(tmp_path: Path, fake_rapl: FakeRapl) -> None:
    spec = with_rapl(make_spec())
    spec = spec.model_copy(
        update={
            "measurement": spec.measurement.model_copy(update={"baseline": BaselineSettings(enabled=False)})
        }
    )
    result = run_experiment(spec, write_spec(tmp_path, spec).parent, results_root=tmp_path)
    cpu = result.energy_by_source["rapl"]
    assert cpu.baseline_w == 0.0 and cpu.adjusted_j == cpu.total_j


def test_the_multi_socket_trace_keeps_each_domain_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = two_socket_server(tmp_path / "powercap")
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (fake.devices_root,))  # as a container mounts it
    spec = with_rapl(make_spec())
    path = write_spec(tmp_path / "results", spec)
    result = run_experiment(spec, path.parent, results_root=tmp_path / "results")
    assert list(result.energy_by_source["rapl"].per_device) == ["package-0", "dram-0", "package-1", "dram-1"]
    table = pq.read_table(path.parent / "timeseries.parquet").to_pandas()
    rapl_rows = table[table.source == "rapl"]
    assert rapl_rows.groupby("device").device_index.first().to_dict() == {
        "package-0": 0,
        "dram-0": 1,
        "package-1": 2,
        "dram-1": 3,
    }


def test_results_and_specs_written_before_sources_composed_still_load() -> None:
    spec = run_spec()
    old = make_result(spec).model_dump(mode="json")
    del old["energy_by_source"]
    del old["baseline"]["by_source"]
    loaded = RunResult.model_validate(old)
    assert loaded.energy_by_source == {} and loaded.baseline.by_source == {}
    assert not any(column.startswith("energy_rapl") for column in metric_row(loaded))
    old_spec = spec.model_dump(mode="json")
    assert "extra_power_sources" not in old_spec["measurement"]
    assert RunSpec.model_validate(old_spec).measurement.extra_power_sources == ()


def test_an_experiment_metering_nothing_more_keeps_its_exp_id_and_rapl_makes_another() -> None:
    plain = MeasurementSettings()
    experiment = Experiment("stub", "m", StubParams(), run_spec().workload, plain, 0)
    # the exp_id hashes measurement settings: an empty list is left out, so ids from before stay
    assert "extra_power_sources" not in experiment.config()["measurement"]
    metered = Experiment("stub", "m", StubParams(), run_spec().workload, with_rapl(run_spec()).measurement, 0)
    assert metered.config()["measurement"]["extra_power_sources"] == ["rapl"]
    assert metered.exp_id != experiment.exp_id
