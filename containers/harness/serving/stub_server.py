"""The stub backend's server: a small OpenAI-compatible streaming server on 127.0.0.1 (aiohttp's
web server) in front of a simulated continuously batching engine, for CI and development.

The engine's latency depends on its load as a GPU engine's does: up to ``max_batch`` requests
run together (the rest wait in a queue: queueing shows in their time to first token); each
step gives every running request one token and takes ``step_s`` × (1 + 10 % per further request
in the batch), plus ``step_s`` / 10 per input token of the requests admitted in it (their
prefill). The steps are waited out (``asyncio.sleep``), not spun: the energy is the synthetic
power source's, and the load generator shares the process. Each running request holds one
``busy()`` of that source, so power follows the batch (``synthetic.py``: idle, the active level,
and a little more per request) and the energy per request falls, then rises with the load.

Deterministic given the prompts: a request's output length is ``max_tokens`` when it asks for a
fixed length (``ignore_eos``), else from a hash of its prompt, as the offline stub decides it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from harness.serving.handle import wait_until_healthy
from harness.serving.loopback import LOOPBACK_HOST

BATCH_STEP_OVERHEAD = 0.1  # as the offline stub: each further sequence in a step adds 10 %
PREFILL_SHARE = 0.1  # a prompt token costs a tenth of a decode step
START_TIMEOUT_S = 10.0

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
                await response.write(_chunk(" tok", "length" if last else None))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": inputs, "completion_tokens": outputs}
                await response.write(_chunk("", usage={**usage, "total_tokens": inputs + outputs}))
            await response.write(b"data: [DONE]\n\n")
        finally:
            sequence.cancelled = True  # a client gone mid-stream frees its place in the batch
        return response


class StubServer:
    """The stub's server, in a thread of this process with its own event loop (the synthetic
    power source it drives lives here too). ``start`` returns once it listens; ``stop`` ends it."""

    def __init__(self, app: StubApp, model: str = "stub") -> None:
        self._app = app
        self.model = model
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stub-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self._engine_task: asyncio.Task[None] | None = None
        self.base_url = ""

    async def _start(self) -> str:
        self._engine_task = asyncio.create_task(self._app.engine.serve_forever())
        self._runner = web.AppRunner(self._app.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK_HOST, 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._engine_task is not None:
            self._engine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._engine_task
        self._app.engine.close()

    def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.base_url = future.result(timeout=START_TIMEOUT_S)
        return self.base_url

    def wait_healthy(self, timeout_s: float) -> None:
        wait_until_healthy(self.base_url, timeout_s, lambda: None if self._thread.is_alive() else "stopped")

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):  # stopping must not hide the error that led here
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=START_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT_S)
