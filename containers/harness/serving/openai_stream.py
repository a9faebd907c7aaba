"""One streamed request to an OpenAI-compatible ``/v1/completions`` endpoint, timed token by token.

The response is server-sent events (``stream: true``): one ``data: {json}`` line per chunk, the
last ``data: [DONE]``. A chunk with text is a token arriving (a server that packs several tokens
into one chunk gives one gap for them, as ``vllm bench serve`` counts it); the token counts come
from the ``usage`` chunk the server sends when asked (``stream_options.include_usage``), else the
output is counted in chunks and the input is unknown (0)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

ERROR_TEXT_LIMIT = 200


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


def _read_chunk(timing: RequestTiming, chunk: dict[str, Any], now: float) -> None:
    usage = chunk.get("usage")
    if usage:
        timing.input_tokens = int(usage.get("prompt_tokens") or 0)
        timing.output_tokens = int(usage.get("completion_tokens") or 0)
    choices = chunk.get("choices") or []
    if not (choices and choices[0].get("text")):
        return
    if timing.first_token_s is None:
        timing.first_token_s = now
    else:
        assert timing.last_token_s is not None
        timing.itl_s.append(now - timing.last_token_s)
    timing.last_token_s = now


async def stream_completion(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    timing: RequestTiming,
    clock: Callable[[], float],
) -> None:
    """Send ``body`` to ``url`` and fill ``timing`` as the tokens arrive; a failure is recorded
    in ``timing.error``, never raised (one bad response must not stop the load)."""
    chunks = 0
    timing.sent_s = clock()
    try:
        async with session.post(url, json=body) as response:
            if response.status != 200:
                text = (await response.text())[:ERROR_TEXT_LIMIT]
                timing.error = f"HTTP {response.status}: {text}"
                return
            async for raw in response.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[len(b"data:") :].strip()
                if data == b"[DONE]":
                    break
                now = clock()
                before = timing.last_token_s
                _read_chunk(timing, json.loads(data), now)
                chunks += timing.last_token_s is not before
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
