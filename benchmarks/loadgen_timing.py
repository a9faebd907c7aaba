"""The load generator's own timing error: how late each request is sent against its scheduled
time (poisson arrivals), at 1, 100 and 1000 requests/s against the stub's server, side by side
in one run on this machine. The server and the generator share the process, as in a stub run;
the stub answers with 2 tokens per request and batches up to 1024, so the server is never the
bottleneck and any lag is the generator's (and the Python event loop's).

Run: .venv/bin/python benchmarks/loadgen_timing.py [--seconds S] [--rates 1,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from harness.backends.stub import output_length  # noqa: E402
from harness.serving.loadgen import LoadPlan, drive  # noqa: E402
from harness.serving.openai_stream import completion_body  # noqa: E402
from harness.serving.stub_server import StubApp, StubEngine, StubServer  # noqa: E402


@contextlib.contextmanager
def idle() -> Iterator[None]:
    yield


def body(warmup: bool) -> dict[str, Any]:
    return completion_body("stub", "one two three four", 2, fixed_length=True, seed=0)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(rate: float, seconds: float) -> dict[str, float]:
    server = StubServer(StubApp(StubEngine(1024, 0.0005, idle), output_length, max_input=32))
    server.start()
    try:
        plan = LoadPlan("poisson", rate, None, warmup_s=0.0, duration_s=seconds, seed=0, drain_limit_s=30)
        outcome = asyncio.run(drive(server.base_url, plan, body))
    finally:
        server.stop()
    lags = [r.sent_s - r.scheduled_s for r in outcome.requests if r.sent_s is not None]
    failed = sum(r.error is not None for r in outcome.requests)
    return {
        "n": len(lags),
        "p50": statistics.median(lags) if lags else float("nan"),
        "p99": quantile(lags, 0.99) if lags else float("nan"),
        "max": max(lags) if lags else float("nan"),
        "achieved": len(lags) / seconds,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load (default 5 s)")
    parser.add_argument("--rates", default="1,100,1000", help="requests/s, comma separated")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(f"send lag (actual send − scheduled), poisson arrivals, {args.seconds:g} s per rate")
    header = ("rate/s", 8), ("sent", 6), ("achieved/s", 11), ("p50 ms", 8), ("p99 ms", 8), ("max ms", 8)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'failed':>6}")
    for rate in rates:
        m = measure(rate, args.seconds)
        print(
            f"{rate:>8g} {m['n']:>6.0f} {m['achieved']:>11.1f} {m['p50'] * 1e3:>8.3f} "
            f"{m['p99'] * 1e3:>8.3f} {m['max'] * 1e3:>8.3f} {m['failed']:>6.0f}"
        )


if __name__ == "__main__":
    main()
