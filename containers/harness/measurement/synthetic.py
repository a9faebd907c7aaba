"""A power source with a known trace, for the CPU stub and for tests.

Power is ``idle_w`` and rises to ``busy_w`` while the backend computes (inside ``busy()``); each
further ``busy()`` held at once adds ``per_request_w`` (the stub's server holds one per request in
its batch, so power follows the batch as a GPU's does: a fixed active cost shared by the batch,
plus a little per sequence). The energy counter is the exact integral of that piecewise-constant
trace. So the energy of any window is known exactly, and the harness's integration of sampled
power can be checked against it.

With ``counter_step_s`` the counter imitates NVML's: it is refreshed only every ``counter_step_s``
seconds (a read between refreshes sees the value of the last one), so ``camp calibrate`` on this
source shows the step's error on short windows as a real GPU would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from harness.measurement.power import DeviceInfo, DeviceReading, Reading

SYNTHETIC_UUID = "SYNTHETIC-0"


class SyntheticPower:
    kind = "synthetic"

    def __init__(
        self,
        idle_w: float = 40.0,
        busy_w: float = 160.0,
        clock: Callable[[], float] = time.monotonic,
        counter_step_s: float | None = None,
        per_request_w: float = 0.0,
    ):
        if counter_step_s is not None and counter_step_s <= 0:
            raise ValueError(
                f"counter_step_s must be positive (None: an exact counter), not {counter_step_s}"
            )
        self.idle_w = idle_w
        self.busy_w = busy_w
        self.per_request_w = per_request_w
        self.counter_step_s = counter_step_s
        self._clock = clock
        self._lock = threading.Lock()
        self._depth = 0
        self._since = self._origin = clock()
        self._energy_j = 0.0
        self._counter_j = 0.0  # the exact energy at the counter's last refresh

    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(0, SYNTHETIC_UUID, "synthetic power trace")]

    def _level(self) -> float:
        if not self._depth:
            return self.idle_w
        return self.busy_w + self.per_request_w * (self._depth - 1)

    def _advance(self, now: float) -> None:
        """Accumulate energy up to ``now``; the level has been constant since ``_since``, so the
        energy at the latest refresh instant in between is exact too."""
        if self.counter_step_s is not None:
            refreshed = self._origin + self.counter_step_s * ((now - self._origin) // self.counter_step_s)
            if refreshed > self._since:
                self._counter_j = self._energy_j + self._level() * (refreshed - self._since)
        self._energy_j += self._level() * (now - self._since)
        self._since = now

    def _counter(self) -> float:
        return self._energy_j if self.counter_step_s is None else self._counter_j

    def read(self) -> Reading:
        with self._lock:
            now = self._clock()
            self._advance(now)
            device = DeviceReading(
                power_w=self._level(),
                energy_j=self._counter(),
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
        facts: dict[str, Any] = {
            "index": 0,
            "uuid": SYNTHETIC_UUID,
            "name": "synthetic power trace",
            "idle_w": self.idle_w,
            "busy_w": self.busy_w,
            "per_request_w": self.per_request_w,
            "power_reading": "synthetic",
            "energy_counter": True,
        }
        if self.counter_step_s is not None:
            facts["counter_step_s"] = self.counter_step_s
        return [facts]

    def driver(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


STUB_PER_REQUEST_W = 8.0


def open_source(environ: MutableMapping[str, str]) -> SyntheticPower:
    """The registry's factory: the stub's source, 40 W idle, 160 W busy and 8 W more per further
    request in the stub server's batch, with an exact counter. At 8 W a request the stub server's
    energy per request falls, then rises with its batch (docs/measurement.md, "The serving window")."""
    return SyntheticPower(per_request_w=STUB_PER_REQUEST_W)
