"""The load generator's own timing error: how late each request is sent against its scheduled
time (poisson arrivals), at 1, 100 and 1000 requests/s against the stub's server, side by side
in one run on this machine.

The server runs as a run starts it: a child process (``harness/serving/stub_process.py``), as
``vllm serve`` is, so the generator has its process to itself. The stub answers with 2 tokens
per request and batches up to 1024, so the server is never the bottleneck and any lag is the
generator's (and the Python event loop's, and the machine's). Per rate it prints the requests
scheduled and sent, the scheduled and the achieved rate (requests due, and sends made, inside the
span / its length: a poisson schedule's own rate wanders about the asked one), the send lag p50 /
p99 / max, the failed requests, the generator's own CPU time (its share of one core over the
load and drain, and per request: one core alone would sustain about 1 / that requests per
second), and whether the rate was sustained (sends inside the span ≥ 95 % of those due in it,
send lag p99 under 10 ms, none failed) — the figure to re-measure on the machine that runs a
campaign.

Run: .venv/bin/python benchmarks/loadgen_timing.py [--seconds S] [--rates 1,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from harness.serving.loadgen import LoadPlan, drive  # noqa: E402
from harness.serving.openai_stream import completion_body, encode_body  # noqa: E402
from harness.serving.stub_process import start_stub_server  # noqa: E402

BODY = encode_body(completion_body("stub", "one two three four", 2, fixed_length=True, seed=0))
SUSTAINED_SHARE = 0.95
SUSTAINED_LAG_P99_S = 0.010


def body(warmup: bool) -> bytes:
    return BODY


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(rate: float, seconds: float) -> dict[str, float]:
    server = start_stub_server(1024, 0.0005, max_input=32)
    try:
        server.wait_healthy(30)
        plan = LoadPlan("poisson", rate, None, warmup_s=0.0, duration_s=seconds, seed=0, drain_limit_s=30)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        outcome = asyncio.run(drive(server.base_url, plan, body))
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - started
    finally:
        server.stop()
    t0 = outcome.started_s
    sent = [r.sent_s for r in outcome.requests if r.sent_s is not None]
    due = [r.scheduled_s for r in outcome.requests]
    lags = [r.sent_s - r.scheduled_s for r in outcome.requests if r.sent_s is not None]
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "n": len(lags),
        "scheduled": sum(t0 <= t < t0 + seconds for t in due) / seconds,
        "achieved": sum(t0 <= t < t0 + seconds for t in sent) / seconds,
        "p50": statistics.median(lags) if lags else float("nan"),
        "p99": quantile(lags, 0.99) if lags else float("nan"),
        "max": max(lags) if lags else float("nan"),
        "failed": sum(r.error is not None for r in outcome.requests),
        "cpu_pct": 100 * cpu_s / wall,
        "cpu_ms": 1e3 * cpu_s / max(1, len(lags)),
    }


def sustained(m: dict[str, float]) -> bool:
    kept_up = m["achieved"] >= SUSTAINED_SHARE * m["scheduled"]
    return kept_up and m["p99"] < SUSTAINED_LAG_P99_S and not m["failed"]


COLUMNS = (  # header, width, the figure's key, its scale, its format
    ("rate/s", 7, "rate", 1, "g"),
    ("sent", 6, "n", 1, ".0f"),
    ("scheduled/s", 11, "scheduled", 1, ".1f"),
    ("achieved/s", 10, "achieved", 1, ".1f"),
    ("lag p50 ms", 10, "p50", 1e3, ".3f"),
    ("p99 ms", 8, "p99", 1e3, ".3f"),
    ("max ms", 8, "max", 1e3, ".3f"),
    ("failed", 6, "failed", 1, ".0f"),
    ("CPU %", 6, "cpu_pct", 1, ".0f"),
    ("CPU/req ms", 10, "cpu_ms", 1, ".3f"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load (default 5 s)")
    parser.add_argument("--rates", default="1,100,1000", help="requests/s, comma separated")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"send lag (actual send − scheduled), poisson arrivals, {args.seconds:g} s per rate")
    print(f"{os.cpu_count()} CPUs, load average {load}; the stub's server in a child process")
    print(" ".join(f"{name:>{width}}" for name, width, *_ in COLUMNS), "sustained")
    for rate in rates:
        m = {"rate": rate, **measure(rate, args.seconds)}
        cells = [f"{m[key] * scale:>{width}{spec}}" for _, width, key, scale, spec in COLUMNS]
        print(" ".join(cells), "yes" if sustained(m) else "no")


if __name__ == "__main__":
    main()
