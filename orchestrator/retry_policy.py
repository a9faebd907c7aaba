"""How hard one ``camp run`` tries: a failed run is tried again (at once, before anything else)
while it has attempts left (``retries``), and ``max_consecutive_failures`` failed attempts in a
row stop the campaign — a broken image or driver should not burn through a 30-hour queue. Every
attempt counts toward the breaker, retries included: with ``retries: 1000000`` a run that
crashes every time still stops the campaign after ``max_consecutive_failures`` attempts."""

from __future__ import annotations

RunKey = tuple[str, int]  # (exp_id, cycle)


class RetryPolicy:
    def __init__(self, retries: int, max_consecutive_failures: int):
        self.retries = retries
        self.max_consecutive_failures = max_consecutive_failures
        self.consecutive_failures = 0
        self.tripped = False  # the circuit breaker: no new run starts
        self._failed_attempts: dict[RunKey, int] = {}
        self._just_tripped = False

    def attempt_failed(self, run: RunKey) -> int:
        """Count a failed attempt of ``run`` (toward the breaker too); how many it has left (0: it
        has failed for good, or the breaker has tripped and nothing more starts)."""
        self._failed_attempts[run] = self._failed_attempts.get(run, 0) + 1
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.max_consecutive_failures:
            self._just_tripped = not self.tripped
            self.tripped = True
        if self.tripped:
            return 0
        return max(0, 1 + self.retries - self._failed_attempts[run])

    def run_succeeded(self) -> None:
        self.consecutive_failures = 0

    def run_failed(self) -> bool:
        """A run failed for good; True when its attempts are the ones that tripped the breaker.
        A run refused before any attempt (no placement can take it) counts as one attempt."""
        if self._just_tripped:
            self._just_tripped = False
            return True
        return False
