"""Every request's body encoded before the stream starts, so a send is only a send: the measured
prompts' bodies (cycled through the window) and as many warmup bodies as the schedule puts in
the warmup; a closed loop, whose warmup count depends on the server, encodes any further ones
as its slots free."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

from harness.workload import WarmupPrompts


class RequestBodies:
    def __init__(
        self,
        encode: Callable[[str], bytes],
        measured: list[str],
        warmup: WarmupPrompts,
        warmup_count: int,
    ) -> None:
        self._encode, self._warmup_pool = encode, warmup
        self._measured = itertools.cycle([encode(prompt) for prompt in measured])
        self._warmup = deque(encode(prompt) for prompt in warmup.take(warmup_count))

    def __call__(self, warmup: bool) -> bytes:
        """The next body: a warmup prompt's, or the next measured prompt's."""
        if not warmup:
            return next(self._measured)
        if self._warmup:
            return self._warmup.popleft()
        return self._encode(self._warmup_pool.take(1)[0])
