"""Idle power, measured before the model loads, so it can be subtracted from the run's energy.

Median of the window's samples (robust to a stray spike), with its inter-quartile range as the
spread and each GPU's median temperature. Cached per set of GPUs (by UUID) in the results volume
for ``ttl_s``: a campaign of many short runs need not idle for every one. A cached value is only
reused by the same source kind and the same method (``bare_idle`` or ``cuda_context``: see
``cuda_context.py``), and only after a short idle read (``recheck_s``) agrees with it: idle power
that moved (another tenant, a changed clock state) means it is measured again. A baseline
measured while the GPUs had not settled (see ``settle.py``) is used by its run but not cached,
so a warm GPU never becomes the reference the next runs settle to.

Extra power sources (RAPL) get their idle power from the same window (``by_source``), cached
with the GPUs'; a cached baseline that lacks one of this run's extra sources is measured again.
"""

from __future__ import annotations

import contextlib
import hashlib
import statistics
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from camp_contract.atomic import atomic_write_text
from camp_contract.models import BaselineInfo, BaselineSettings, RunWarning, SourceBaseline
from harness.measurement.cuda_context import cuda_context_held
from harness.measurement.power import PowerSource, Reading
from harness.measurement.settle import IdleRead, device_temperatures, idle_read, read_for

BaselineMethod = Literal["bare_idle", "cuda_context", "synthetic"]
UNSTEADY_SPREAD = 0.10  # IQR as a share of the median idle power


def _method(source: PowerSource, settings: BaselineSettings) -> BaselineMethod:
    return "synthetic" if source.kind == "synthetic" else settings.method


def _cache_path(cache_dir: Path, source: PowerSource, method: str) -> Path:
    key = ",".join(sorted(d.uuid for d in source.devices()))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"baseline-{source.kind}-{method}-{digest}.json"


def _age(info: BaselineInfo, now: datetime) -> timedelta | None:
    try:
        return now - datetime.fromisoformat(info.measured_at)
    except ValueError:
        return None


def cached_baseline(
    source: PowerSource,
    settings: BaselineSettings,
    cache_dir: Path | None,
    now: datetime | None = None,
    extras: Collection[str] = (),
) -> BaselineInfo | None:
    """The cached baseline of these GPUs for this method, if one is younger than ``ttl_s`` and
    holds the idle power of every extra source in ``extras``."""
    if not settings.enabled or cache_dir is None or settings.ttl_s <= 0:
        return None
    path = _cache_path(cache_dir, source, _method(source, settings))
    try:
        cached = BaselineInfo.model_validate_json(path.read_text())
    except (ValidationError, OSError):
        return None  # none yet, or a damaged entry: simply measured again
    age = _age(cached, now or datetime.now(timezone.utc))
    if age is None or not timedelta(0) <= age <= timedelta(seconds=settings.ttl_s):
        return None
    if not set(extras) <= set(cached.by_source):
        return None
    return cached


def measure_idle(
    source: PowerSource, duration_s: float, hz: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[list[Reading], float]:
    """Read the source for ``duration_s`` at ``hz``; returns the readings and the time taken."""
    start = time.monotonic()
    readings = read_for(source, duration_s, hz, sleep=sleep)
    return readings, time.monotonic() - start


def median_and_iqr(samples: list[float]) -> tuple[float, float]:
    """Idle power and its spread: the median (robust to a stray spike) and the inter-quartile range."""
    quartiles = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return statistics.median(samples), quartiles[2] - quartiles[0]


def extra_baselines(readings: list[Reading]) -> dict[str, SourceBaseline]:
    """Each extra source's idle power over ``readings``: median and IQR of its summed devices."""
    names = sorted({name for r in readings for name in r.extra})
    out = {}
    for name in names:
        power_w, spread_w = median_and_iqr([r.of_source(name).power_w for r in readings if name in r.extra])
        out[name] = SourceBaseline(power_w=power_w, spread_w=spread_w)
    return out


def _agrees(cached: BaselineInfo, read: IdleRead, tolerance: float) -> bool:
    return abs(read.power_w - cached.power_w) <= tolerance * cached.power_w


def idle_baseline(
    source: PowerSource,
    settings: BaselineSettings,
    hz: float,
    cache_dir: Path | None,
    hold_context: Callable[[], contextlib.AbstractContextManager[None]] = cuda_context_held,
    trace: list[Reading] | None = None,
    recheck: IdleRead | None = None,
    settled: bool = True,
    extras: Collection[str] = (),
) -> BaselineInfo:
    """The idle baseline: from the cache when fresh and a short idle read agrees with it, else
    measured now (and cached when ``settled``). ``hold_context`` opens the CUDA context the
    ``cuda_context`` method measures (and re-checks) under; ``recheck`` is an idle read just
    taken (the settle gate's last), used instead of a new one where no context is needed; the
    readings of a fresh measurement are appended to ``trace`` (for the run's timeseries);
    ``extras`` names the extra sources whose idle power a cached baseline must hold."""
    now = datetime.now(timezone.utc)
    if not settings.enabled:
        return BaselineInfo(
            power_w=0.0,
            spread_w=0.0,
            n_samples=0,
            duration_s=0.0,
            method="disabled",
            cached=False,
            measured_at=now.isoformat(),
        )
    method = _method(source, settings)
    path = _cache_path(cache_dir, source, method) if cache_dir is not None else None
    cached = cached_baseline(source, settings, cache_dir, now, extras) if settled else None
    if method == "cuda_context" or settings.recheck_s == 0:
        recheck = None  # the given read was taken without a context / no check is asked for
    with hold_context() if method == "cuda_context" else contextlib.nullcontext():
        if cached is not None:
            if recheck is None and settings.recheck_s > 0:
                recheck = idle_read(source, settings.recheck_s, hz)
            if recheck is None or _agrees(cached, recheck, settings.recheck_tolerance):
                age = _age(cached, now) or timedelta(0)
                return cached.model_copy(
                    update={
                        "cached": True,
                        "age_s": age.total_seconds(),
                        "recheck_w": recheck.power_w if recheck is not None else None,
                    }
                )
        readings, took = measure_idle(source, settings.duration_s, hz)
    if trace is not None:
        trace.extend(readings)
    power_w, spread_w = median_and_iqr([r.power_w for r in readings])
    info = BaselineInfo(
        power_w=power_w,
        spread_w=spread_w,
        n_samples=len(readings),
        duration_s=took,
        method=method,
        cached=False,
        measured_at=now.isoformat(),
        temperature_c=device_temperatures(readings, [d.uuid for d in source.devices()]),
        recheck_w=recheck.power_w if cached is not None and recheck is not None else None,
        by_source=extra_baselines(readings),
    )
    if path is not None and settled:
        with contextlib.suppress(OSError):  # the cache is an optimisation: a read-only volume is fine
            atomic_write_text(path, info.model_copy(update={"recheck_w": None}).model_dump_json())
    return info


def baseline_warnings(info: BaselineInfo) -> list[RunWarning]:
    """An idle GPU draws a steady power; a wide spread means it was not idle (still cooling down
    from the previous run, or another process on it), so the subtracted figure is suspect."""
    if info.power_w > 0 and info.spread_w > UNSTEADY_SPREAD * info.power_w:
        return [
            RunWarning(
                kind="unsteady_baseline",
                message=f"idle power was unsteady during the baseline (IQR {info.spread_w:.1f} W around "
                f"{info.power_w:.1f} W): the GPU was still settling or in use; add gaps.between_runs_s "
                "or lower baseline.ttl_s so it is measured again",
            )
        ]
    return []
