"""What ``camp run`` shows while a campaign runs.

On a terminal, a live view (rich): one line per run in flight — its counter, label, the phase
its harness says it is in (``progress.json``, ``camp_contract.progress``) and for how long, and
how long the run has taken — then the gap being waited, if any, and a footer with done / failed
/ left and an ETA. Finished runs' lines (``run_messages``) scroll above it.

Elsewhere (CI, a pipe, a log file) plain lines: the same finished-run lines with how many runs
are left and the ETA on their first line, and one line for each gap waited.

The ETA is the campaign's pace so far — the time from its first run's start to the last run
settled (done or failed for good), over the runs settled — times the runs left, counting down
until the next run settles: gaps, retries and parallel GPUs are in it as they happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from camp_contract.progress import read_progress

RunKey = tuple[str, int]  # (exp_id, cycle)
Verdict = Literal["done", "failed", "retry"]
Echo = Callable[[str], None]

REFRESH_PER_S = 2


def format_duration(seconds: float) -> str:
    """``8.4s``, ``4m 05s``, ``2h 03m``: short enough for a status line."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass
class Tally:
    """This ``camp run``'s runs: how many it has to do, how many settled, and the pace so far."""

    total: int = 0
    already_done: int = 0
    done: int = 0
    failed: int = 0
    started: float | None = None  # monotonic time the first run started
    last_settled: float | None = None  # monotonic time a run last settled

    @property
    def left(self) -> int:
        return self.total - self.done - self.failed

    def settled(self, verdict: str, now: float) -> None:
        if verdict == "done":
            self.done += 1
        elif verdict == "failed":
            self.failed += 1
        else:
            return
        self.last_settled = now

    def eta_s(self, now: float) -> float | None:
        """Seconds until the last run ends at the pace so far, counting down from the last run
        that settled; None before any did."""
        settled = self.done + self.failed
        if self.started is None or self.last_settled is None or settled == 0:
            return None
        pace = (self.last_settled - self.started) / settled
        return max(0.0, pace * self.left - (now - self.last_settled))

    def summary(self, now: float) -> str:
        """``3 done, 1 failed, 8 left, ETA 4m 05s``."""
        parts = [f"{self.done} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{self.left} left")
        eta = self.eta_s(now)
        if eta is not None and self.left:
            parts.append(f"ETA {format_duration(eta)}")
        return ", ".join(parts)


@dataclass
class _InFlight:
    title: str
    progress_file: Path
    started: float
    spinner: Spinner = field(default_factory=lambda: Spinner("dots"))


class ProgressView:
    """The plain view, and the interface the runner drives: every call comes from the runner's
    thread."""

    def __init__(self, echo: Echo, clock: Callable[[], float] = time.monotonic):
        self._echo = echo
        self.clock = clock
        self.tally = Tally()
        self.in_flight: dict[RunKey, _InFlight] = {}
        self.interrupted: list[str] = []  # the runs in flight when the campaign was stopped

    def echo(self, line: str) -> None:
        self._echo(line)

    def begin(self, total: int, already_done: int) -> None:
        self.tally = Tally(total=total, already_done=already_done)

    def run_started(self, key: RunKey, title: str, progress_file: Path) -> None:
        now = self.clock()
        if self.tally.started is None:
            self.tally.started = now
        self.in_flight[key] = _InFlight(title, progress_file, now)

    def run_ended(self, key: RunKey | None, verdict: Verdict) -> None:
        """A run's attempt ended (``key`` None: a run refused before any attempt started)."""
        if key is not None:
            self.in_flight.pop(key, None)
        self.tally.settled(verdict, self.clock())

    def note(self) -> str | None:
        """What a finished run's line adds: the counts left and the ETA (the live view shows
        them in its footer instead)."""
        return self.tally.summary(self.clock())

    def run_interrupted(self, key: RunKey) -> None:
        flight = self.in_flight.pop(key, None)
        if flight is not None:
            self.interrupted.append(flight.title)

    def waiting(self, seconds: float, reason: str) -> None:
        """The runner is about to wait ``seconds`` with no run started: say so."""
        self.echo(f"waiting {format_duration(seconds)} {reason}")

    def close(self) -> None:
        """Idempotent: the runner closes it when the campaign stops, however it stops."""


class LiveView(ProgressView):
    """The terminal's live view (see the module docstring); rich redraws it from its own thread,
    which reads each run's ``progress.json``, so the lock guards what both threads touch."""

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        super().__init__(console.print, clock)
        self.console = console
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._wait: tuple[str, float] | None = None  # reason, monotonic time it ends
        self._live: Live | None = None

    def echo(self, line: str) -> None:
        self.console.print(Text(line))  # a line as it is: no markup read into it

    def begin(self, total: int, already_done: int) -> None:
        with self._lock:
            super().begin(total, already_done)
        if self._live is None:
            self._live = Live(self, console=self.console, refresh_per_second=REFRESH_PER_S, transient=True)
            self._live.start()

    def run_started(self, key: RunKey, title: str, progress_file: Path) -> None:
        with self._lock:
            self._wait = None
            super().run_started(key, title, progress_file)

    def run_ended(self, key: RunKey | None, verdict: Verdict) -> None:
        with self._lock:
            super().run_ended(key, verdict)

    def note(self) -> str | None:
        return None  # the footer carries the counts

    def run_interrupted(self, key: RunKey) -> None:
        with self._lock:
            super().run_interrupted(key)

    def waiting(self, seconds: float, reason: str) -> None:
        with self._lock:
            self._wait = (reason, self.clock() + seconds)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich__(self) -> RenderableType:
        with self._lock:
            now, wall = self.clock(), self.wall_clock()
            rows = Table.grid(padding=(0, 1))
            for flight in self.in_flight.values():
                rows.add_row(flight.spinner, *self._flight_cells(flight, now, wall))
            parts: list[RenderableType] = [rows]
            if self._wait is not None and not self.in_flight:
                reason, until = self._wait
                parts.append(Text(f"⏸ waiting {reason}: {format_duration(until - now)} left", style="yellow"))
            parts.append(Text(self.tally.summary(now), style="bold"))
            return Group(*parts)

    @staticmethod
    def _flight_cells(flight: _InFlight, now: float, wall: float) -> tuple[Text, Text, Text]:
        progress = read_progress(flight.progress_file)
        if progress is None:
            phase = Text("starting", style="dim")
        else:
            phase = Text(f"{progress.describe()} {format_duration(wall - progress.since)}", style="cyan")
        return Text(flight.title), phase, Text(f"run {format_duration(now - flight.started)}", style="dim")


def make_view(echo: Echo, console: Console | None = None) -> ProgressView:
    """The live view where the console is a terminal, else plain lines through ``echo``."""
    console = console if console is not None else Console()
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveView(console)
    return ProgressView(echo)
