"""A power source with a known trace, for the CPU stub and for tests.

Power is ``idle_w`` and rises to ``busy_w`` while the backend computes (inside ``busy()``); the
energy counter is the exact integral of that piecewise-constant trace. So the energy of any
window is known exactly, and the harness's integration of sampled power can be checked against it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.measurement.power import DeviceInfo, DeviceReading, Reading

SYNTHETIC_UUID = "SYNTHETIC-0"


class SyntheticPower:
    kind = "synthetic"

    def __init__(
        self, idle_w: float = 40.0, busy_w: float = 160.0, clock: Callable[[], float] = time.monotonic
    ):
        self.idle_w = idle_w
        self.busy_w = busy_w
        self._clock = clock
        self._lock = threading.Lock()
        self._depth = 0
        self._since = clock()
        self._energy_j = 0.0

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(0, SYNTHETIC_UUID, "synthetic power trace")]

    def _level(self) -> float:
        return self.busy_w if self._depth else self.idle_w

    def _advance(self, now: float) -> None:
        self._energy_j += self._level() * (now - self._since)
        self._since = now

    def read(self) -> Reading:
        with self._lock:
            now = self._clock()
            self._advance(now)
            device = DeviceReading(
                power_w=self._level(),
                energy_j=self._energy_j,
                power_avg_1s_w=None,
                gpu_util_pct=100.0 if self._depth else 0.0,
            )
            return Reading(now, (device,))

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._advance(self._clock())
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._advance(self._clock())
                self._depth -= 1

    def other_processes(self) -> dict[str, int]:
        return {}

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "index": 0,
                "uuid": SYNTHETIC_UUID,
                "name": "synthetic power trace",
                "idle_w": self.idle_w,
                "busy_w": self.busy_w,
                "power_reading": "synthetic",
                "energy_counter": True,
            }
        ]

    def driver(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
