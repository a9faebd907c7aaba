"""The load generator's send path, piece by piece: bodies encoded before the stream, the event
stream read as it arrives, and the stub's batch relayed from its process to the power source."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from itertools import count

import pytest

from camp_contract.models import Workload
from harness.measurement.synthetic import SyntheticPower
from harness.serving.loadgen import LoadPlan
from harness.serving.openai_stream import RequestTiming, _read_events
from harness.serving.request_bodies import RequestBodies
from harness.serving.stub_process import BusyRelay
from harness.serving.stub_server import BUSY, IDLE
from harness.workload import WarmupPrompts


class FakeContent:
    """A response body that arrives in the given reads."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def iter_any(self) -> AsyncIterator[bytes]:
        for data in self.reads:
            yield data


def event(text: str = "", usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, object] = {"choices": [] if usage else [{"text": text}]}
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_events_split_across_reads_or_packed_in_one_are_each_read_once_at_their_read() -> None:
    stream = (
        event(" a") + event(" b") + event(" c") + event(usage={"prompt_tokens": 4, "completion_tokens": 3})
    )
    cut = stream.index(b" b") + 1  # the second event split in its middle
    reads = [stream[:cut], stream[cut:], b"data: [DONE]\n\n", event(" after done")]
    timing = RequestTiming(request_id=0, scheduled_s=0.0)
    clock = count(10.0)  # each read is one second later than the one before
    chunks = asyncio.run(_read_events(FakeContent(reads), timing, lambda: float(next(clock))))  # type: ignore[arg-type]
    assert chunks == 3 and (timing.input_tokens, timing.output_tokens) == (4, 3)
    # " a" came in the first read, " b" and " c" completed in the second: timed by their reads
    assert timing.first_token_s == 10.0 and timing.itl_s == [1.0, 0.0] and timing.last_token_s == 11.0


def test_a_stream_that_ends_without_a_last_newline_keeps_its_last_event() -> None:
    timing = RequestTiming(request_id=0, scheduled_s=0.0)
    reads = [event(" a"), event(" b").rstrip()]
    assert asyncio.run(_read_events(FakeContent(reads), timing, lambda: 1.0)) == 2  # type: ignore[arg-type]


def test_bodies_are_encoded_before_the_stream_and_the_measured_ones_cycle() -> None:
    workload = Workload(max_input_tokens=4)
    pool = WarmupPrompts(workload, 0, ["m1", "m2"])
    encoded: list[str] = []

    def encode(prompt: str) -> bytes:
        encoded.append(prompt)
        return prompt.encode()

    bodies = RequestBodies(encode, ["m1", "m2"], pool, warmup_count=3)
    assert len(encoded) == 5 and pool.sent == 3  # everything the schedule needs, up front
    assert [bodies(False) for _ in range(3)] == [b"m1", b"m2", b"m1"]
    warm = [bodies(True) for _ in range(4)]
    assert len(encoded) == 6 and pool.sent == 4  # past the schedule's count: one more on demand
    assert not {b"m1", b"m2"} & set(warm)


def test_an_open_loop_counts_its_warmup_arrivals_and_a_closed_loop_none() -> None:
    constant = LoadPlan("constant", 10.0, None, warmup_s=1.0, duration_s=5.0, seed=0)
    assert constant.warmup_arrivals() == 10  # 0, 0.1, ... 0.9
    saturated = LoadPlan(
        "poisson", float("inf"), None, warmup_s=1.0, duration_s=5.0, seed=0, burst_requests=8
    )
    assert saturated.warmup_arrivals() == 0 and saturated.in_flight == 8 and not saturated.open_loop


def test_the_relay_holds_the_power_source_busy_per_request_the_child_reports() -> None:
    source = SyntheticPower(per_request_w=8.0)
    relay = BusyRelay(source.busy)
    child_end = os.dup(relay.write_fd)  # what the child holds; start() closes the relay's own
    relay.start()
    os.write(child_end, BUSY * 3 + IDLE)  # three requests entered the batch, one left
    deadline = time.monotonic() + 5
    while relay.held != 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert relay.held == 2 and source.read().devices[0].power_w == pytest.approx(168.0)
    os.close(child_end)  # the child is gone: every hold it left is released
    relay.close()
    assert relay.held == 0 and source.read().devices[0].power_w == 40.0
