"""The RAPL power source against a fake powercap tree (tests/harness/fake_rapl.py): which domains
it meters, joules and watts from the µJ counter, wrap-around, and every way it can be unavailable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from camp_contract.models import MeasurementSettings
from harness.measurement import rapl
from harness.measurement.power import SourceUnavailable
from harness.measurement.sources import open_sources
from harness.measurement.synthetic import SyntheticPower
from tests.harness.fake_rapl import RANGE_UJ, FakeRapl, two_socket_server


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_packages_and_their_dram_are_metered_core_and_psys_are_not(tmp_path: Path) -> None:
    fake = two_socket_server(tmp_path)
    for root in (fake.class_root, fake.devices_root):  # the host's view, and a container's mount
        domains = rapl.find_domains(root)
        assert [(d.name, d.zone) for d in domains] == [
            ("package-0", "intel-rapl:0"),
            ("dram-0", "intel-rapl:0:1"),
            ("package-1", "intel-rapl:1"),
            ("dram-1", "intel-rapl:1:1"),
        ]
        assert {d.range_uj for d in domains} == {RANGE_UJ}


def test_zones_are_in_numeric_order_past_ten_sockets(tmp_path: Path) -> None:
    fake = FakeRapl(tmp_path)
    for n in (10, 2, 1):
        fake.add(f"intel-rapl:{n}", f"package-{n}")
    assert [d.name for d in rapl.find_domains(fake.class_root)] == ["package-1", "package-2", "package-10"]


def test_joules_and_watts_come_from_the_microjoule_counter(tmp_path: Path) -> None:
    fake = FakeRapl(tmp_path)
    fake.add("intel-rapl:0", "package-0", energy_uj=5_000_000)
    fake.add("intel-rapl:0:0", "dram", energy_uj=100)
    clock = Clock()
    source = rapl.RaplPower(rapl.find_domains(fake.class_root), clock=clock)
    assert [d.uuid for d in source.devices()] == ["package-0", "dram-0"]
    clock.now += 0.5
    fake.set_uj("intel-rapl:0", 5_000_000 + 20_000_000)  # 20 J in 0.5 s
    fake.set_uj("intel-rapl:0:0", 100 + 2_500_000)  # 2.5 J
    package, dram = source.read().devices
    assert (package.energy_j, package.power_w) == (pytest.approx(20.0), pytest.approx(40.0))
    assert (dram.energy_j, dram.power_w) == (pytest.approx(2.5), pytest.approx(5.0))
    assert package.temperature_c is None and package.gpu_util_pct is None


def test_the_counter_wrapping_at_its_range_keeps_counting_up(tmp_path: Path) -> None:
    fake = FakeRapl(tmp_path)
    fake.add("intel-rapl:0", "package-0", energy_uj=9_000_000, range_uj=10_000_000)
    clock = Clock()
    source = rapl.RaplPower(rapl.find_domains(fake.class_root), clock=clock)
    clock.now += 0.1
    fake.set_uj("intel-rapl:0", 500_000)  # 1 J up to the range, then 0.5 J past 0
    (first,) = source.read().devices
    clock.now += 0.1
    fake.set_uj("intel-rapl:0", 2_500_000)
    (second,) = source.read().devices
    assert first.energy_j == pytest.approx(1.5) and first.power_w == pytest.approx(15.0)
    assert second.energy_j == pytest.approx(3.5) and second.power_w == pytest.approx(20.0)


def test_a_read_after_a_pause_averages_over_a_fresh_span_not_the_pause(tmp_path: Path) -> None:
    fake = FakeRapl(tmp_path)
    fake.add("intel-rapl:0", "package-0")
    clock = Clock()

    def sleep(seconds: float) -> None:  # 40 W while the source waits to read again
        clock.now += seconds
        fake.set_uj("intel-rapl:0", 600_000_000 + int(40 * seconds * 1e6))

    source = rapl.RaplPower(rapl.find_domains(fake.class_root), clock=clock, sleep=sleep)
    clock.now += 60.0  # a model download: 600 J at 10 W
    fake.set_uj("intel-rapl:0", 600_000_000)
    (device,) = source.read().devices
    assert device.power_w == pytest.approx(40.0)  # not the pause's 10 W
    assert device.energy_j == pytest.approx(600.0 + 40 * rapl.REREAD_PAUSE_S)  # every joule counted


def test_root_only_energy_files_make_it_unavailable_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = two_socket_server(tmp_path)
    fake.deny(monkeypatch, "intel-rapl:1:1")
    with pytest.raises(
        SourceUnavailable, match=r"intel-rapl:1:1/energy_uj is readable only by root .*PLATYPUS"
    ):
        rapl.find_domains(fake.class_root)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda fake: None, "no RAPL zone under"),
        (lambda fake: fake.add("intel-rapl:0", "psys"), "no RAPL package domain under"),
        (
            lambda fake: fake.add("intel-rapl:0", "package-0", range_uj=None),
            "cannot read .*max_energy_range_uj",
        ),
        (lambda fake: fake.add("intel-rapl:0", "package-0", range_uj=0), "max_energy_range_uj is 0"),
    ],
)
def test_a_tree_without_usable_domains_is_unavailable(tmp_path: Path, build: object, reason: str) -> None:
    fake = FakeRapl(tmp_path)
    build(fake)  # type: ignore[operator]
    with pytest.raises(SourceUnavailable, match=reason):
        rapl.find_domains(fake.class_root)


def test_asked_for_where_there_is_no_powercap_it_names_every_place_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (tmp_path / "sys-class-powercap", tmp_path / "host-powercap"))
    closed: list[str] = []
    monkeypatch.setattr(SyntheticPower, "close", lambda self: closed.append(self.kind))
    settings = MeasurementSettings(power_source="synthetic", extra_power_sources=("rapl",))
    with pytest.raises(SourceUnavailable) as caught:
        open_sources(settings, {})
    message = str(caught.value)
    assert message.startswith("RAPL power source unavailable: ")
    assert "sys-class-powercap does not exist" in message and "host-powercap does not exist" in message
    assert closed == ["synthetic"]  # the GPU source it did open is not left open


def test_the_first_root_with_readable_domains_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = two_socket_server(tmp_path)
    monkeypatch.setattr(rapl, "POWERCAP_ROOTS", (tmp_path / "masked", fake.devices_root))
    source = rapl.open_source({})
    assert [d["uuid"] for d in source.describe()] == ["package-0", "dram-0", "package-1", "dram-1"]
    assert source.describe()[1]["zone"] == "intel-rapl:0:1"


class _AdvancingCounter:
    """An energy_uj file that advances 1 mJ per read and lets another thread run between the
    read and its use, as the sampler thread and the window's marks do on a real run."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def __truediv__(self, name: str) -> _AdvancingCounter:
        return self

    def read_text(self) -> str:
        with self.lock:
            self.value += 1000
            value = self.value
        time.sleep(0)  # yield: the other reader may read a newer value and use it first
        return f"{value}\n"


def test_reads_from_two_threads_never_see_the_counter_go_back() -> None:
    """Without its lock, two interleaved reads made the counter appear to go back: a false wrap
    adding max_energy_range_uj (262 kJ here) to a run's RAPL energy."""
    counter = _AdvancingCounter()
    source = rapl.RaplPower([rapl.Domain("package-0", "intel-rapl:0", counter, RANGE_UJ)])  # type: ignore[arg-type]

    def hammer() -> None:
        for _ in range(2000):
            source.read()

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (device,) = source.read().devices
    assert device.energy_j == pytest.approx((counter.value - 1000) / 1e6)  # all it advanced, no wrap
