"""The load generator: requests sent to a server on 127.0.0.1 on a schedule, each response
streamed and timed (``openai_stream``).

Open loop (``poisson`` / ``constant`` at a finite ``rate_rps``): arrivals are fixed in advance and
sent when due whatever the server does, so a server slower than the load queues the requests it
cannot take — the queueing shows in their time to first token, never as a lower arrival rate (a
closed loop would flatter a slow server by waiting for it). Closed loop (``concurrency``): that
many requests in flight, each sent as the one before it in its slot finishes. An infinite rate
is the saturation point: ``burst_requests`` sent at once when the stream starts (as ``vllm bench
serve --request-rate inf`` sends its prompts at t=0) and each replaced as soon as it finishes, so
the server's queue stays as full through the window as at its start (a closed loop at
``burst_requests``).

One stream of requests runs across the phases: warmup (``warmup_s``, warmup prompts), the
measured window (``duration_s``, the measured prompts cycled), then the drain: nothing new is
sent, and the requests still in flight get ``drain_limit_s`` to finish (those that do not are
cancelled and recorded as failed). ``mark`` is called at the start, at both edges of the window
and after the drain (the power sampler's mark: the window is cut on its clock). Bounded: at most
``max_requests`` requests, and the drain at most ``drain_limit_s``.

The send path is kept cheap, so the schedule holds at high rates: request bodies are encoded
before the stream starts (``make_body`` hands over bytes), one session sends them all over a
pool without a limit, and each wait is until an absolute instant on the clock (a late wake-up
sends everything due at once, and never shifts the arrivals after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from camp_contract.models import Arrival
from harness.serving.arrivals import arrival_offsets
from harness.serving.loopback import require_loopback
from harness.serving.openai_stream import RequestTiming, stream_completion

MAX_REQUESTS = 200_000  # the hard cap on one run's requests, warmup and window together
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LoadPlan:
    arrival: Arrival
    rate_rps: float | None  # open loop; inf: saturation, ``burst_requests`` kept in flight
    concurrency: int | None  # closed loop
    warmup_s: float
    duration_s: float
    seed: int
    burst_requests: int = 1  # an infinite rate: the requests sent at once and kept in flight
    max_requests: int = MAX_REQUESTS
    drain_limit_s: float = 60.0

    @property
    def saturating(self) -> bool:
        """An infinite rate: the server kept saturated by ``burst_requests`` in flight."""
        return self.rate_rps is not None and math.isinf(self.rate_rps)

    @property
    def open_loop(self) -> bool:
        return self.arrival != "concurrency" and not self.saturating

    @property
    def in_flight(self) -> int | None:
        """The requests a closed loop keeps in flight (None for an open loop)."""
        if self.saturating:
            return self.burst_requests
        return None if self.open_loop else self.concurrency

    def warmup_arrivals(self) -> int:
        """How many requests an open loop schedules in the warmup (0 for a closed loop, whose
        count depends on the server), so their bodies can be built before the stream starts."""
        if not self.open_loop or self.warmup_s <= 0:
            return 0
        assert self.rate_rps is not None and self.arrival != "concurrency"
        due = itertools.takewhile(
            lambda t: t < self.warmup_s, arrival_offsets(self.arrival, self.rate_rps, self.seed)
        )
        return sum(1 for _ in itertools.islice(due, self.max_requests))


@dataclass
class LoadOutcome:
    requests: list[RequestTiming]
    started_s: float
    window: tuple[float, float]  # the marks taken at the window's edges (the energy's window)
    # The window as scheduled: a request is the window's when its scheduled time is in it. The
    # marks are taken as close after these instants as the event loop allows (well under 1 ms).
    schedule_window: tuple[float, float]
    drained_s: float
    capped: bool = False  # the request cap stopped the schedule early
    unfinished: int = 0  # cancelled at the drain limit
    extra: dict[str, Any] = field(default_factory=dict)


class _Run:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        plan: LoadPlan,
        make_body: Callable[[bool], bytes],
        mark: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.session, self.url, self.plan = session, url, plan
        self.make_body, self.mark, self.clock = make_body, mark, clock
        self.records: list[RequestTiming] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.capped = False
        self.window = (math.nan, math.nan)

    def launch(self, scheduled: float, window_start_at: float) -> asyncio.Task[None]:
        warmup = scheduled < window_start_at
        timing = RequestTiming(request_id=len(self.records), scheduled_s=scheduled, warmup=warmup)
        self.records.append(timing)
        body = self.make_body(warmup)
        task = asyncio.create_task(stream_completion(self.session, self.url, body, timing, self.clock))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def full(self) -> bool:
        self.capped = self.capped or len(self.records) >= self.plan.max_requests
        return self.capped

    async def until(self, at: float) -> None:
        """Wait until the clock reads ``at`` (an absolute instant: a late wake-up does not delay
        the next one). The event loop's timer wakes us within about a millisecond after it."""
        delay = at - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def edges(self, start_at: float, end_at: float) -> None:
        await self.until(start_at)
        start = self.mark()
        await self.until(end_at)
        self.window = (start, self.mark())

    async def open_loop(self, t0: float, window_start_at: float, end_at: float) -> None:
        assert self.plan.rate_rps is not None and self.plan.arrival != "concurrency"
        for offset in arrival_offsets(self.plan.arrival, self.plan.rate_rps, self.plan.seed):
            due = t0 + offset
            if due >= end_at or self.full():
                return
            if due > self.clock():
                await self.until(due)
            self.launch(due, window_start_at)  # behind schedule: everything due goes at once

    async def closed_loop(self, t0: float, window_start_at: float, end_at: float) -> None:
        async def slot() -> None:
            due = t0  # every slot's first request is due when the stream starts: all at once
            while not self.full() and due < end_at:
                await asyncio.wait([self.launch(due, window_start_at)])  # its cancel is not ours
                due = self.clock()  # the next is due as this one finishes

        assert self.plan.in_flight is not None
        await asyncio.gather(*(slot() for _ in range(self.plan.in_flight)))

    async def drain(self) -> int:
        pending = set(self.tasks)
        if not pending:
            return 0
        _, late = await asyncio.wait(pending, timeout=self.plan.drain_limit_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return len(late)

    async def run(self) -> LoadOutcome:
        t0 = self.mark()
        window_start_at = t0 + self.plan.warmup_s
        end_at = window_start_at + self.plan.duration_s
        edges = asyncio.create_task(self.edges(window_start_at, end_at))
        if self.plan.open_loop:
            sending = asyncio.create_task(self.open_loop(t0, window_start_at, end_at))
        else:
            sending = asyncio.create_task(self.closed_loop(t0, window_start_at, end_at))
        await edges
        if self.plan.open_loop:
            await sending  # its last arrival was due before the window's end: it is sent
            unfinished = await self.drain()
        else:
            unfinished = await self.drain()  # each slot ends with its last request
            await sending
        return LoadOutcome(
            self.records, t0, self.window, (window_start_at, end_at), self.mark(), self.capped, unfinished
        )


async def drive(
    base_url: str,
    plan: LoadPlan,
    make_body: Callable[[bool], bytes],
    mark: Callable[[], float] = time.monotonic,
    clock: Callable[[], float] = time.monotonic,
) -> LoadOutcome:
    """Drive ``plan`` against the server at ``base_url`` (127.0.0.1 only); ``make_body(warmup)``
    hands over the next request's body, JSON already encoded. No connection limit (``limit=0``):
    an open loop at any rate is never held back by the client's pool."""
    url = require_loopback(base_url.rstrip("/") + "/v1/completions")
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
    with gc_paused():
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
            return await _Run(session, url, plan, make_body, mark, clock).run()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the stream runs, then run once: its full
    collections stop the event loop (and the power sampler's thread) for tens of milliseconds at
    high rates, which showed as send lag p99 (``benchmarks/loadgen_timing.py``). Reference
    counting still frees what each request leaves; a stream leaves well under one cyclic object
    per request for the collector, so memory stays bounded."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
