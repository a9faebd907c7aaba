"""The stub backend's server: a small OpenAI-compatible streaming server on 127.0.0.1 (aiohttp's
web server) in front of a simulated continuously batching engine, for CI and development.

The engine's latency depends on its load as a GPU engine's does: up to ``max_batch`` requests
run together (the rest wait in a queue: queueing shows in their time to first token); each
step gives every running request one token and takes ``step_s`` × (1 + 10 % per further request
in the batch), plus ``step_s`` / 10 per input token of the requests admitted in it (their
prefill). The steps are waited out (``asyncio.sleep``), not spun: the energy is the synthetic
power source's. Each running request holds one ``busy()`` of that source, so power follows the
batch (``synthetic.py``: idle, the active level, and a little more per request) and the energy
per request falls, then rises with the load.

It runs as a child process of the harness, as ``vllm serve`` does (``stub_process.py`` starts
it): ``python -m harness.serving.stub_server --port P ...``. The power source lives in the
harness, so the child reports each request entering and leaving its batch as one byte on a pipe
(``--busy-fd``: ``+`` and ``-``), and the harness holds the source's ``busy()`` accordingly.

Deterministic given the prompts: a request's output length is ``max_tokens`` when it asks for a
fixed length (``ignore_eos``), else from a hash of its prompt, as the offline stub decides it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from harness.serving.loopback import LOOPBACK_HOST

BATCH_STEP_OVERHEAD = 0.1  # as the offline stub: each further sequence in a step adds 10 %
PREFILL_SHARE = 0.1  # a prompt token costs a tenth of a decode step
SHUTDOWN_TIMEOUT_S = 2.0  # a stream still open at stop is cut after this
BUSY, IDLE = b"+", b"-"  # one request entering / leaving the batch, on the busy pipe

Busy = Callable[[], contextlib.AbstractContextManager[None]]


def step_seconds(step_s: float, batch: int, admitted_input_tokens: int) -> float:
    """One engine step: decode for ``batch`` requests, plus the prefill of those just admitted."""
    return step_s * (1 + BATCH_STEP_OVERHEAD * (batch - 1)) + step_s * PREFILL_SHARE * admitted_input_tokens


@dataclass
class _Sequence:
    input_tokens: int
    remaining: int
    tokens: asyncio.Queue[bool] = field(default_factory=asyncio.Queue)  # True: the last one
    held: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    cancelled: bool = False


class StubEngine:
    """The simulated engine: one stepping task, a queue and a batch of at most ``max_batch``."""

    def __init__(self, max_batch: int, step_s: float, busy: Busy) -> None:
        self.max_batch, self.step_s, self.busy = max_batch, step_s, busy
        self.waiting: deque[_Sequence] = deque()
        self.running: list[_Sequence] = []
        self.wake = asyncio.Event()

    def submit(self, input_tokens: int, output_tokens: int) -> _Sequence:
        sequence = _Sequence(input_tokens, max(1, output_tokens))
        self.waiting.append(sequence)
        self.wake.set()
        return sequence

    def _leave(self, sequence: _Sequence) -> None:
        sequence.held.close()
        self.running.remove(sequence)

    async def serve_forever(self) -> None:
        while True:
            if not self.waiting and not self.running:
                self.wake.clear()
                await self.wake.wait()
            admitted = 0
            while self.waiting and len(self.running) < self.max_batch:
                sequence = self.waiting.popleft()
                if sequence.cancelled:
                    continue
                sequence.held.enter_context(self.busy())
                self.running.append(sequence)
                admitted += sequence.input_tokens
            await asyncio.sleep(step_seconds(self.step_s, len(self.running), admitted))
            for sequence in list(self.running):
                if sequence.cancelled:
                    self._leave(sequence)
                    continue
                sequence.remaining -= 1
                sequence.tokens.put_nowait(sequence.remaining == 0)
                if sequence.remaining == 0:
                    self._leave(sequence)

    def close(self) -> None:
        for sequence in [*self.running]:
            self._leave(sequence)


def _chunk(text: str, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "text": text, "finish_reason": finish}]
    body: dict[str, Any] = {"object": "text_completion", "model": "stub", "choices": choices}
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


TOKEN_CHUNK, LAST_CHUNK = _chunk(" tok"), _chunk(" tok", "length")  # the same bytes every time


class StubApp:
    """The HTTP side: ``GET /health``, ``GET /v1/models`` and streamed ``POST /v1/completions``."""

    def __init__(
        self, engine: StubEngine, output_tokens: Callable[[str, int, bool], int], max_input: int
    ) -> None:
        self.engine, self.output_tokens, self.max_input = engine, output_tokens, max_input

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/completions", self.completions)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt, limit = str(body.get("prompt", "")), int(body.get("max_tokens", 16))
        inputs = min(len(prompt.split()), self.max_input)
        outputs = self.output_tokens(prompt, limit, bool(body.get("ignore_eos")))
        if not body.get("stream"):
            raise web.HTTPBadRequest(text="the stub server streams only: send stream: true")
        sequence = self.engine.submit(inputs, outputs)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            last = False
            while not last:
                last = await sequence.tokens.get()
                await response.write(LAST_CHUNK if last else TOKEN_CHUNK)
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": inputs, "completion_tokens": outputs}
                await response.write(_chunk("", usage={**usage, "total_tokens": inputs + outputs}))
            await response.write(b"data: [DONE]\n\n")
        finally:
            sequence.cancelled = True  # a client gone mid-stream frees its place in the batch
        return response


@contextlib.contextmanager
def _reported(fd: int) -> Iterator[None]:
    """One request in the batch, reported to the harness's power source on the busy pipe."""
    os.write(fd, BUSY)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # the harness stopped listening: it is stopping us
            os.write(fd, IDLE)


async def serve(app: StubApp, port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM (or SIGINT), then stop cleanly: the listener
    closed, open streams cut after ``SHUTDOWN_TIMEOUT_S``, every running request released."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    engine = asyncio.create_task(app.engine.serve_forever())
    runner = web.AppRunner(app.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, LOOPBACK_HOST, port, shutdown_timeout=SHUTDOWN_TIMEOUT_S).start()
        await stopping.wait()
    finally:
        await runner.cleanup()
        engine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await engine
        app.engine.close()


def main(argv: Sequence[str] | None = None) -> None:
    from harness.backends.stub import output_length  # the offline stub's rule for output lengths

    parser = argparse.ArgumentParser(prog="harness.serving.stub_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, required=True)
    parser.add_argument("--step-s", type=float, required=True, help="seconds per decode step at no load")
    parser.add_argument("--max-input", type=int, required=True, help="input tokens a prompt is cut to")
    parser.add_argument("--busy-fd", type=int, help="the pipe to report the batch on (+ / -)")
    args = parser.parse_args(argv)
    fd = args.busy_fd
    busy: Busy = (lambda: _reported(fd)) if fd is not None else contextlib.nullcontext
    engine = StubEngine(args.max_batch, args.step_s, busy)
    asyncio.run(serve(StubApp(engine, output_length, args.max_input), args.port))


if __name__ == "__main__":
    main()
