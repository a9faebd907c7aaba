"""The power sources a run can be metered by: one entry each, name → role and where the harness
finds it.

Both sides read this table: the host to check a campaign's ``measurement.power_source`` and
``measurement.extra_power_sources`` at its door, the harness to open them
(``harness/measurement/sources.py`` imports the entry's ``factory``, inside the container only:
it is a string here, so the contract imports neither side). Adding a source is one module in
``harness/measurement/`` plus one entry below (see docs/contributing.md).

A ``gpu`` source meters the run's GPUs and gives the headline figure (``energy``, ``metrics``):
exactly one per run, ``measurement.power_source``. An ``extra`` source is metered beside it,
read at every sample of the same trace (``measurement.extra_power_sources``), and reported per
source and per device (``energy_by_source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SourceRole = Literal["gpu", "extra"]


@dataclass(frozen=True)
class PowerSourceEntry:
    role: SourceRole
    factory: str  # "module:function", called by the harness with the run's environment
    title: str  # how messages name it: "<title> power source unavailable: <reason>"


POWER_SOURCES: dict[str, PowerSourceEntry] = {
    "nvml": PowerSourceEntry("gpu", "harness.measurement.nvml:open_source", "NVML"),
    "synthetic": PowerSourceEntry("gpu", "harness.measurement.synthetic:open_source", "synthetic"),
    "rapl": PowerSourceEntry("extra", "harness.measurement.rapl:open_source", "RAPL"),
}


def source_names(role: SourceRole) -> list[str]:
    """The registered sources of ``role``, sorted."""
    return sorted(name for name, entry in POWER_SOURCES.items() if entry.role == role)


def check_source(name: str, role: SourceRole) -> str:
    """``name`` when it is a registered source of ``role``; else a ValueError naming the known ones."""
    entry = POWER_SOURCES.get(name)
    if entry is not None and entry.role == role:
        return name
    known = ", ".join(source_names(role)) or "none"
    if entry is not None:
        what, where = (
            ("a GPU", "measurement.power_source")
            if entry.role == "gpu"
            else ("an extra", "measurement.extra_power_sources")
        )
        raise ValueError(f"{name!r} is {what} power source: it belongs in {where}")
    raise ValueError(f"unknown {role} power source {name!r} (known: {known})")
