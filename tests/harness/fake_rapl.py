"""A fake powercap tree, laid out as Linux lays it out: the zones in a devices tree
(``devices/intel-rapl/intel-rapl:0/intel-rapl:0:0``) and a class directory of links to them
(``class/intel-rapl:0``, ``class/intel-rapl:0:0``, ``class/intel-rapl``), each zone with its
``name``, ``energy_uj`` and ``max_energy_range_uj`` files. ``class_root`` is what a host shows as
/sys/class/powercap; ``devices_root`` what a container sees where compose mounts the host's
/sys/devices/virtual/powercap.

Energy is written with ``set_uj`` (atomically: a reader never sees half a number), or advanced
at a constant power by ``run_at`` in a thread while a whole run reads it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

RANGE_UJ = 262_143_328_850  # a common max_energy_range_uj (about 262 kJ)


class FakeRapl:
    def __init__(self, base: Path):
        self.class_root = base / "class"
        self.devices_root = base / "devices"
        (self.devices_root / "intel-rapl").mkdir(parents=True)
        self.class_root.mkdir(parents=True)
        (self.class_root / "intel-rapl").symlink_to(self.devices_root / "intel-rapl")
        self.zones: dict[str, Path] = {}

    def add(self, zone: str, name: str, energy_uj: int = 0, range_uj: int | None = RANGE_UJ) -> Path:
        """Zone ``intel-rapl:N`` (a package or psys) or ``intel-rapl:N:M`` (inside package N)."""
        parts = zone.split(":")
        parent = self.devices_root / "intel-rapl" if len(parts) == 2 else self.zones[":".join(parts[:2])]
        directory = parent / zone
        directory.mkdir()
        (directory / "name").write_text(name + "\n")
        if range_uj is not None:
            (directory / "max_energy_range_uj").write_text(f"{range_uj}\n")
        self.zones[zone] = directory
        self.set_uj(zone, energy_uj)
        (self.class_root / zone).symlink_to(directory)
        return directory

    def set_uj(self, zone: str, energy_uj: int) -> None:
        path = self.zones[zone] / "energy_uj"
        temporary = path.with_name("energy_uj.tmp")
        temporary.write_text(f"{energy_uj}\n")
        os.replace(temporary, path)

    def deny(self, monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
        """Make the zone's energy_uj root-only, as the PLATYPUS fix did (tests run as root, where
        a chmod would not stop the read)."""
        denied = self.zones[zone] / "energy_uj"
        read_text = Path.read_text

        def guarded(path: Path, *args: object, **kwargs: object) -> str:
            if Path(os.path.realpath(path)) == Path(os.path.realpath(denied)):
                raise PermissionError(13, "Permission denied", str(path))
            return read_text(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "read_text", guarded)

    @contextmanager
    def run_at(self, watts: Mapping[str, float], period_s: float = 0.002) -> Iterator[None]:
        """Advance each zone's counter at ``watts[zone]`` from now until the block ends, wrapping
        at the range like the real one."""
        start = time.monotonic()
        stop = threading.Event()
        # from where each counter stands: a real one never goes back (a reader that opened the
        # zone before the first advance would otherwise see a drop and take it for a wrap)
        initial = {zone: int((self.zones[zone] / "energy_uj").read_text()) for zone in watts}

        def advance() -> None:
            while not stop.wait(period_s):
                elapsed = time.monotonic() - start
                for zone, power in watts.items():
                    self.set_uj(zone, (initial[zone] + int(power * elapsed * 1e6)) % RANGE_UJ)

        writer = threading.Thread(target=advance, name="fake-rapl", daemon=True)
        writer.start()
        try:
            yield
        finally:
            stop.set()
            writer.join()


def two_socket_server(base: Path) -> FakeRapl:
    """Two packages, each with core and dram subzones, and a psys zone."""
    fake = FakeRapl(base)
    for n in (0, 1):
        fake.add(f"intel-rapl:{n}", f"package-{n}", energy_uj=1_000_000 * (n + 1))
        fake.add(f"intel-rapl:{n}:0", "core")
        fake.add(f"intel-rapl:{n}:1", "dram", energy_uj=500_000)
    fake.add("intel-rapl:2", "psys")
    return fake
