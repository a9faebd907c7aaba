"""The sampler: a thread reading the power source at a fixed rate while the run goes on.

Samples and window marks share one clock (``time.monotonic``), so the measured window is cut out
of the trace exactly. Reads are scheduled on absolute deadlines, so a slow read does not make the
rate drift; the achieved rate is reported, not assumed.
"""

from __future__ import annotations

import threading
import time

from harness.measurement.power import PowerSource, Reading


class Sampler:
    def __init__(self, source: PowerSource, hz: float):
        self.source = source
        self.period_s = 1.0 / hz
        self.readings: list[Reading] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._record(self.source.read())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"power sampling failed: {self.error}") from self.error
        self._record(self.source.read())

    def mark(self) -> float:
        """Read now (so the window's edges are samples themselves) and return the time."""
        reading = self.source.read()
        self._record(reading)
        return reading.t_s

    def _record(self, reading: Reading) -> None:
        with self._lock:
            self.readings.append(reading)

    def _loop(self) -> None:
        deadline = time.monotonic()
        try:
            while True:
                deadline += self.period_s
                delay = deadline - time.monotonic()
                if delay < 0:  # fell behind: skip the missed ticks rather than burst
                    deadline = time.monotonic()
                    delay = 0
                if self._stop.wait(delay):
                    return
                self._record(self.source.read())
        except BaseException as err:  # surfaced by stop(): a silent sampler would fake a quiet GPU
            self.error = err

    def snapshot(self) -> list[Reading]:
        with self._lock:
            return sorted(self.readings, key=lambda r: r.t_s)
