from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from camp_contract.models import BaselineSettings, WarmupSettings
from harness.measurement.baseline import idle_baseline
from harness.measurement.power import DeviceReading, Reading
from harness.measurement.sampler import Sampler
from harness.measurement.synthetic import SyntheticPower
from harness.measurement.warmup import coefficient_of_variation, warm_up


def test_baseline_is_the_median_with_its_iqr_and_is_cached(tmp_path: Path) -> None:
    source = SyntheticPower(idle_w=42.0)
    settings = BaselineSettings(duration_s=0.1, ttl_s=3600)
    first = idle_baseline(source, settings, hz=100, cache_dir=tmp_path)
    assert first.power_w == 42.0 and first.spread_w == 0.0 and first.n_samples >= 5 and not first.cached
    again = idle_baseline(source, settings, hz=100, cache_dir=tmp_path)
    assert again.cached and again.power_w == 42.0 and again.measured_at == first.measured_at


class Noisy(SyntheticPower):
    """Idle power that wobbles 48/50/52 W with a 500 W spike every fifth reading."""

    LEVELS = (48.0, 50.0, 52.0, 50.0, 500.0)

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def read(self) -> Reading:
        self.calls += 1
        watts = self.LEVELS[(self.calls - 1) % len(self.LEVELS)]
        return Reading(time.monotonic(), (DeviceReading(power_w=watts, energy_j=None),))


def test_baseline_median_ignores_spikes_and_the_iqr_is_the_spread() -> None:
    info = idle_baseline(Noisy(), BaselineSettings(duration_s=0.2), hz=100, cache_dir=None)
    assert info.n_samples >= 5
    assert info.power_w == 50.0  # the mean would be ~140 W
    assert 0.0 < info.spread_w <= 4.0  # between the 48 W and 52 W levels, never the spike


def test_stale_or_damaged_cache_is_measured_again(tmp_path: Path) -> None:
    source = SyntheticPower(idle_w=30.0)
    settings = BaselineSettings(duration_s=0.05, ttl_s=60)
    idle_baseline(source, settings, hz=100, cache_dir=tmp_path)
    (cache,) = tmp_path.iterdir()
    stale = json.loads(cache.read_text())
    stale["measured_at"] = (datetime.now(timezone.utc) - timedelta(seconds=120)).isoformat()
    cache.write_text(json.dumps(stale))
    assert not idle_baseline(source, settings, hz=100, cache_dir=tmp_path).cached
    cache.write_text("{not json")
    assert not idle_baseline(source, settings, hz=100, cache_dir=tmp_path).cached


def test_disabled_baseline_subtracts_nothing() -> None:
    info = idle_baseline(SyntheticPower(), BaselineSettings(enabled=False), hz=10, cache_dir=None)
    assert info.method == "disabled" and info.power_w == 0.0


def test_warmup_stops_when_latencies_settle() -> None:
    latencies = iter([1.0, 0.5, 0.2, 0.101, 0.1, 0.1, 0.1])
    info = warm_up(
        lambda: (next(latencies), 2),
        WarmupSettings(min_requests=2, max_requests=100, window=3, cv_threshold=0.05),
    )
    assert info.converged and info.n_requests == 2 * 6 and info.final_cv is not None and info.final_cv < 0.05


def test_warmup_gives_up_at_max_requests() -> None:
    noisy = iter([1.0, 2.0] * 50)
    info = warm_up(lambda: (next(noisy), 4), WarmupSettings(max_requests=10, window=2, cv_threshold=0.01))
    assert not info.converged and info.n_requests == 12


def test_warmup_sends_at_least_min_requests_even_when_steady_at_once() -> None:
    info = warm_up(
        lambda: (0.1, 2),
        WarmupSettings(min_requests=10, max_requests=100, window=2, cv_threshold=0.05),
    )
    assert info.converged and info.n_requests == 10 and info.final_cv == 0.0


def test_cv() -> None:
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert coefficient_of_variation([1.0]) == float("inf")


def test_sampler_reaches_its_rate_and_marks_are_samples() -> None:
    source = SyntheticPower()
    with Sampler(source, hz=100) as sampler:
        start = sampler.mark()
        time.sleep(0.5)
        end = sampler.mark()
    inside = [r for r in sampler.snapshot() if start <= r.t_s <= end]
    assert inside[0].t_s == start and inside[-1].t_s == end
    assert 35 <= len(inside) <= 60  # ~50 at 100 Hz over 0.5 s, on a loaded 2-core machine


def test_a_failing_source_fails_the_run_instead_of_faking_a_quiet_gpu() -> None:
    class Flaky(SyntheticPower):
        calls = 0

        def read(self) -> Reading:
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("GPU is lost")
            return Reading(time.monotonic(), (DeviceReading(power_w=1.0, energy_j=None),))

    sampler = Sampler(Flaky(), hz=100)
    sampler.start()
    time.sleep(0.1)
    with pytest.raises(RuntimeError, match="power sampling failed: GPU is lost"):
        sampler.stop()
