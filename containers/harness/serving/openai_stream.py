"""One streamed request to an OpenAI-compatible ``/v1/completions`` endpoint, timed token by token.

The response is server-sent events (``stream: true``): one ``data: {json}`` line per chunk, the
last ``data: [DONE]``. A chunk with text is a token arriving (a server that packs several tokens
into one chunk gives one gap for them, as ``vllm bench serve`` counts it); the token counts come
from the ``usage`` chunk the server sends when asked (``stream_options.include_usage``), else the
output is counted in chunks and the input is unknown (0).

Parsing is kept light: the body arrives already encoded, and the stream is read as it comes
(``iter_any``), split into lines here; every event in one read arrived at that read's instant
and is timed by it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

ERROR_TEXT_LIMIT = 200
JSON_HEADERS = {"Content-Type": "application/json"}
DATA, DONE = b"data:", b"[DONE]"


@dataclass
class RequestTiming:
    """One request as the load generator saw it; times on the run's clock (``time.monotonic``)."""

    request_id: int
    scheduled_s: float  # when the schedule said to send it (closed loop: when a slot freed)
    sent_s: float | None = None
    first_token_s: float | None = None
    last_token_s: float | None = None
    ended_s: float | None = None  # the response over, answered in full or not
    input_tokens: int = 0
    output_tokens: int = 0
    itl_s: list[float] = field(default_factory=list)
    error: str | None = None
    warmup: bool = False  # carried a warmup prompt

    @property
    def ok(self) -> bool:
        return self.error is None and self.last_token_s is not None


def completion_body(
    model: str, prompt: str, max_tokens: int, fixed_length: bool, seed: int
) -> dict[str, Any]:
    """The request: greedy, streamed, with usage in the last chunk; with ``fixed_length`` the
    server is asked for exactly ``max_tokens`` tokens (``ignore_eos``/``min_tokens``, which vLLM
    and TensorRT-LLM's servers take beside OpenAI's fields), as the offline backends ask."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": seed,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if fixed_length:
        body.update(ignore_eos=True, min_tokens=max_tokens)
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    """The request as sent: encoded once, before the stream, not at each send."""
    return json.dumps(body).encode()


def _read_chunk(timing: RequestTiming, chunk: dict[str, Any], now: float) -> bool:
    """Read one chunk into ``timing``; whether it carried text (a token arriving)."""
    usage = chunk.get("usage")
    if usage:
        timing.input_tokens = int(usage.get("prompt_tokens") or 0)
        timing.output_tokens = int(usage.get("completion_tokens") or 0)
    choices = chunk.get("choices") or []
    if not (choices and choices[0].get("text")):
        return False
    if timing.first_token_s is None:
        timing.first_token_s = now
    else:
        assert timing.last_token_s is not None
        timing.itl_s.append(now - timing.last_token_s)
    timing.last_token_s = now
    return True


async def stream_completion(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    timing: RequestTiming,
    clock: Callable[[], float],
) -> None:
    """Send ``body`` (encoded JSON) to ``url`` and fill ``timing`` as the tokens arrive; a failure
    is recorded in ``timing.error``, never raised (one bad response must not stop the load)."""
    timing.sent_s = clock()
    try:
        async with session.post(url, data=body, headers=JSON_HEADERS) as response:
            if response.status != 200:
                text = (await response.text())[:ERROR_TEXT_LIMIT]
                timing.error = f"HTTP {response.status}: {text}"
                return
            chunks = await _read_events(response.content, timing, clock)
        if timing.first_token_s is None:
            timing.error = "the response held no token"
        elif not timing.output_tokens:
            timing.output_tokens = chunks
    except asyncio.CancelledError:
        timing.error = "cancelled: not answered within the drain limit"
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
        timing.error = f"{type(err).__name__}: {err}"[:ERROR_TEXT_LIMIT]
    finally:
        timing.ended_s = clock()


async def _read_events(
    content: aiohttp.StreamReader, timing: RequestTiming, clock: Callable[[], float]
) -> int:
    """Read the event stream into ``timing`` until ``[DONE]`` or its end; the chunks with text."""
    chunks, pending, now = 0, b"", 0.0  # now: the last read's instant
    async for data in content.iter_any():
        now = clock()
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            event = _event(line)
            if event == DONE:
                return chunks
            if event is not None:
                chunks += _read_chunk(timing, json.loads(event), now)
    event = _event(pending)  # a last line the stream ended without a newline after
    if event is not None and event != DONE:
        chunks += _read_chunk(timing, json.loads(event), now)
    return chunks


def _event(line: bytes) -> bytes | None:
    """A ``data:`` line's payload (None for a blank line, a comment or another field)."""
    line = line.strip()
    return line[len(DATA) :].strip() if line.startswith(DATA) else None
