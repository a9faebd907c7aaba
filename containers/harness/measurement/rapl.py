"""RAPL power source: CPU package and DRAM energy from Linux's powercap interface, read-only.

RAPL (Running Average Power Limit: Intel since Sandy Bridge; AMD Zen reports its package the
same way) keeps a cumulative energy counter per domain, which the kernel's powercap driver shows
as ``energy_uj`` (µJ) under ``intel-rapl:N`` (a package) and ``intel-rapl:N:M`` (its subzones).
Metered: each package (``package-N``) and each DRAM subzone (``dram-N``, by its package). Left
out: the ``core`` and ``uncore`` subzones (inside their package's count) and ``psys`` (the
platform domain, which holds the packages), so the devices add up without counting twice.

The counter wraps to 0 after ``max_energy_range_uj``: each read adds what it advanced since the
previous read — plus the range, where it went back — to a running total (joules since the source
opened), so the counter the estimator sees never goes back. A wrap more than once between two
reads cannot be seen; the range lasts minutes at full package power (262 kJ: about 15 min at
300 W) and the sampler reads several times a second. RAPL gives no instantaneous power: a
reading's power is the average since the previous read, and after a pause longer than
``MAX_AVERAGING_S`` (before the settle gate's first read) the source reads twice,
``REREAD_PAUSE_S`` apart, so that no reading averages over the pause.

Where: ``/sys/class/powercap`` (the host, the local executor), else ``/host/powercap``, where a
container sees the host's ``/sys/devices/virtual/powercap`` when compose mounts it read-only
(Docker masks the former; see docs/measurement.md). Since the PLATYPUS fix (CVE-2020-8694)
``energy_uj`` is readable by root only: the source is then unavailable, saying so.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measurement.power import DeviceInfo, DeviceReading, Reading, SimpleSource, SourceUnavailable

POWERCAP_ROOTS = (Path("/sys/class/powercap"), Path("/host/powercap"))
MAX_AVERAGING_S = 1.0
REREAD_PAUSE_S = 0.01
_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")
_SUBZONE = re.compile(r"intel-rapl:\d+:\d+")
ROOT_ONLY_FIX = (
    "readable only by root since the PLATYPUS fix (CVE-2020-8694): run the harness as root, or "
    "let every user read RAPL on the host until its next boot (sudo chmod o+r "
    "/sys/devices/virtual/powercap/intel-rapl/*/energy_uj "
    "/sys/devices/virtual/powercap/intel-rapl/*/*/energy_uj — which reopens that side channel), "
    "or drop rapl from measurement.extra_power_sources"
)


@dataclass(frozen=True)
class Domain:
    name: str  # package-0, dram-0: the device's id in results and the timeseries
    zone: str  # intel-rapl:0, intel-rapl:0:2
    directory: Path
    range_uj: int  # max_energy_range_uj: where energy_uj wraps to 0

    @property
    def energy_file(self) -> Path:
        return self.directory / "energy_uj"


def _zone_order(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in path.name.split(":")[1:])


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except PermissionError:
        raise SourceUnavailable(f"{path} is {ROOT_ONLY_FIX}") from None
    except OSError as err:
        raise SourceUnavailable(f"cannot read {path} ({err.strerror or err})") from None


def _read_uj(path: Path) -> int:
    text = _read(path)
    try:
        return int(text)
    except ValueError:
        raise SourceUnavailable(f"{path} holds {text!r}, not a count of µJ") from None


def _domain(name: str, directory: Path) -> Domain:
    domain = Domain(name, directory.name, directory, _read_uj(directory / "max_energy_range_uj"))
    if domain.range_uj <= 0:
        raise SourceUnavailable(f"{directory / 'max_energy_range_uj'} is {domain.range_uj}: no counter range")
    _read_uj(domain.energy_file)  # readable (root only since PLATYPUS), or unavailable now, not mid-run
    return domain


def find_domains(root: Path) -> list[Domain]:
    """The packages and their DRAM subzones under ``root``, in zone order; ``root`` may be the
    class directory (``intel-rapl:N`` links) or the devices tree (``intel-rapl/intel-rapl:N``)."""
    if not root.is_dir():
        raise SourceUnavailable(
            f"{root} does not exist (no powercap here, or not mounted into the container)"
        )
    zones = {p.name: p for p in [*root.glob("intel-rapl:*"), *root.glob("intel-rapl/intel-rapl:*")]}
    packages = sorted((p for z, p in zones.items() if _PACKAGE_ZONE.fullmatch(z)), key=_zone_order)
    if not packages:
        raise SourceUnavailable(f"no RAPL zone under {root} (no intel_rapl driver, or a CPU without RAPL)")
    domains = []
    for package in packages:
        name = _read(package / "name")
        if not name.startswith("package"):  # psys: the whole platform, packages included
            continue
        domains.append(_domain(name, package))
        subzones = sorted(
            (p for p in package.glob("intel-rapl:*:*") if _SUBZONE.fullmatch(p.name)), key=_zone_order
        )
        for subzone in subzones:
            if _read(subzone / "name") == "dram":
                domains.append(_domain(f"dram-{name.removeprefix('package-')}", subzone))
    if not domains:
        raise SourceUnavailable(f"no RAPL package domain under {root}")
    return domains


class RaplPower(SimpleSource):
    kind = "rapl"

    def __init__(
        self,
        domains: Sequence[Domain],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._domains = list(domains)
        self._clock = clock
        self._sleep = sleep
        # The sampler thread and the window's marks (the main thread) both read: the counters'
        # last values are state, and two reads interleaved would see one go back (a false wrap).
        self._lock = threading.Lock()
        self._at = clock()
        self._raw = [_read_uj(d.energy_file) for d in self._domains]
        self._total_j = [0.0] * len(self._domains)
        self._power_w = [0.0] * len(self._domains)

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(i, d.name, f"RAPL {d.name} ({d.zone})") for i, d in enumerate(self._domains)]

    def read(self) -> Reading:
        with self._lock:
            return self._read_locked()

    def _read_locked(self) -> Reading:
        now = self._clock()
        if now - self._at > MAX_AVERAGING_S:  # a pause: count its energy, but average over a fresh span
            self._advance(now)
            self._sleep(REREAD_PAUSE_S)
            now = self._clock()
        self._advance(now)
        return Reading(
            now,
            tuple(
                DeviceReading(power_w=watts, energy_j=joules)
                for watts, joules in zip(self._power_w, self._total_j, strict=True)
            ),
        )

    def _advance(self, now: float) -> None:
        elapsed = now - self._at
        for i, domain in enumerate(self._domains):
            raw = int(domain.energy_file.read_text())
            advanced_uj = raw - self._raw[i]
            if advanced_uj < 0:  # wrapped past max_energy_range_uj
                advanced_uj += domain.range_uj
            self._raw[i] = raw
            self._total_j[i] += advanced_uj / 1e6
            if elapsed > 0:
                self._power_w[i] = advanced_uj / 1e6 / elapsed
        self._at = now

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "index": i,
                "uuid": d.name,
                "name": f"RAPL {d.name}",
                "zone": d.zone,
                "path": str(d.directory),
                "max_energy_range_uj": d.range_uj,
            }
            for i, d in enumerate(self._domains)
        ]


def open_source(environ: MutableMapping[str, str]) -> RaplPower:
    """The registry's factory: the first of ``POWERCAP_ROOTS`` that has readable RAPL domains;
    else unavailable, with every root's reason."""
    reasons = []
    for root in POWERCAP_ROOTS:
        try:
            return RaplPower(find_domains(root))
        except SourceUnavailable as err:
            reasons.append(str(err))
    raise SourceUnavailable("; ".join(reasons))
