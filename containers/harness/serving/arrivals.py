"""When each request of an open-loop load is due: the schedule is fixed before the first request
is sent and never waits on a response (docs/measurement.md, "open loop").

``poisson``: exponential gaps at the rate, from the run's seed, so a rerun sends at the same
instants; ``constant``: a request every 1/rate seconds; an infinite rate sends every request of
a phase at its start (``burst_offsets``)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Literal

OpenLoop = Literal["poisson", "constant"]


def arrival_offsets(arrival: OpenLoop, rate_rps: float, seed: int) -> Iterator[float]:
    """Seconds from the load's start of each arrival, without end (the caller stops at its
    horizon). The first arrival is at 0 for ``constant`` and one random gap in for ``poisson``."""
    if not rate_rps > 0 or math.isinf(rate_rps):
        raise ValueError(f"an arrival schedule needs a finite positive rate, not {rate_rps}")
    if arrival == "constant":
        n = 0
        while True:
            yield n / rate_rps
            n += 1
    rng = random.Random(seed)
    t = 0.0
    while True:
        t += rng.expovariate(rate_rps)
        yield t
