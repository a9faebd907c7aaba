"""How hard one ``camp run`` tries: a failed run is tried again (at once, before anything else)
while it has attempts left (``retries``), and ``max_consecutive_failures`` runs failing for good
in a row stop the campaign — a broken image or driver should not burn through a 30-hour queue."""

from __future__ import annotations

RunKey = tuple[str, int]  # (exp_id, cycle)


class RetryPolicy:
    def __init__(self, retries: int, max_consecutive_failures: int):
        self.retries = retries
        self.max_consecutive_failures = max_consecutive_failures
        self.consecutive_failures = 0
        self.tripped = False  # the circuit breaker: no new run starts
        self._failed_attempts: dict[RunKey, int] = {}

    def attempt_failed(self, run: RunKey) -> int:
        """Count a failed attempt of ``run``; how many it has left (0: it has failed for good)."""
        self._failed_attempts[run] = self._failed_attempts.get(run, 0) + 1
        return max(0, 1 + self.retries - self._failed_attempts[run])

    def run_succeeded(self) -> None:
        self.consecutive_failures = 0

    def run_failed(self) -> bool:
        """Count a run that failed for good; True when it is the one that trips the breaker."""
        self.consecutive_failures += 1
        if self.tripped or self.consecutive_failures < self.max_consecutive_failures:
            return False
        self.tripped = True
        return True
