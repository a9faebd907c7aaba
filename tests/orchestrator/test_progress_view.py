"""What `camp run` shows while a campaign runs: a live view on a terminal (the runs in flight with
their phase from progress.json, the gap waited, done / failed / left and an ETA), plain lines
elsewhere."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

from rich.console import Console

from camp_contract import progress
from camp_contract.layout import RunFiles
from camp_contract.models import RunSpec
from orchestrator.campaign import parse_campaign
from orchestrator.executors import ExecOutcome, RunRequest
from orchestrator.progress_view import LiveView, ProgressView, Tally, format_duration, make_view
from orchestrator.runner import CampaignRunner
from tests.orchestrator.fakes import FakeExecutor, crash, succeed

TEXT = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
cycles: 2
retries: 0
gaps: {between_runs_s: 1, between_cycles_s: 5}
"""


def snapshot(view: LiveView) -> str:
    """The live view as the terminal shows it now."""
    out = Console(file=io.StringIO(), width=120, force_terminal=False)
    out.print(view)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_the_eta_is_the_pace_so_far_times_the_runs_left() -> None:
    tally = Tally(total=5, started=100.0)
    assert tally.eta_s(110.0) is None  # nothing settled yet: no pace to go by
    tally.settled("done", 110.0)
    tally.settled("retry", 115.0)  # an attempt, not a run: the pace is per run
    tally.settled("failed", 120.0)
    assert tally.eta_s(120.0) == 30.0  # 20 s for two runs, three left
    assert tally.summary(120.0) == "1 done, 1 failed, 3 left, ETA 30.0s"
    assert tally.eta_s(125.0) == 25.0  # counting down until the next run settles
    assert [format_duration(s) for s in (8.44, 245, 7380)] == ["8.4s", "4m 05s", "2h 03m"]


def test_plain_lines_say_what_is_left_the_eta_and_each_gap(tmp_path: Path) -> None:
    messages: list[str] = []
    sleeps: list[float] = []
    clock = iter(float(t) for t in range(0, 1000, 10))  # every reading 10 s later
    view = ProgressView(messages.append, clock=lambda: next(clock))
    campaign = parse_campaign(TEXT, Path("c.yaml"))
    CampaignRunner(
        campaign, tmp_path, FakeExecutor([crash, succeed]), messages.append, sleeps.append, view=view
    ).run()
    finished = [m for m in messages if m.startswith("[")]
    assert finished[0].startswith("[1/4] stub m batch_size=")
    assert ": FAILED (0 done, 1 failed, 3 left, ETA " in finished[0]
    assert ": done in " in finished[-1] and "(3 done, 1 failed, 0 left) — " in finished[-1]
    assert "waiting 1.0s between runs (gaps.between_runs_s)" in messages
    assert "waiting 5.0s between cycles (gaps.between_cycles_s)" in messages
    assert sleeps == [1, 5, 1]


def test_the_live_view_shows_each_run_in_flight_with_its_phase_and_the_counts(tmp_path: Path) -> None:
    campaign = parse_campaign(TEXT.replace("cycles: 2", "cycles: 1") + "gpus: [0, 1]\n", Path("c.yaml"))
    terminal = Console(file=io.StringIO(), width=120, force_terminal=True)
    view = LiveView(terminal)
    both_in_flight = threading.Barrier(2, timeout=5)
    seen: list[str] = []

    def in_warmup(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        if spec.params.batch_size == 2:  # type: ignore[attr-defined]
            progress.write_progress(RunFiles(request.spec_path.parent).progress, progress.PHASE_WARMUP)
        both_in_flight.wait()
        if spec.params.batch_size == 1:  # type: ignore[attr-defined]
            seen.append(snapshot(view))
        both_in_flight.wait()
        return succeed(request, spec)

    CampaignRunner(campaign, tmp_path, FakeExecutor([in_warmup]), print, view=view).run()
    (shown,) = seen
    lines = shown.splitlines()
    first = next(line for line in lines if "[1/2] stub m batch_size=1 c0" in line)
    second = next(line for line in lines if "[2/2] stub m batch_size=2 c0" in line)
    assert "starting" in first and re.search(r"run \d+\.\ds", first)  # no progress.json yet
    assert re.search(r"warmup \d+\.\ds", second)  # the phase the harness wrote, and for how long
    assert lines[-1] == "0 done, 2 left"
    written = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert "[1/2] stub m batch_size=1 c0: done in" in written and "[2/2]" in written
    assert "(2 done" not in written  # the counts are the footer's, not the lines'


def test_the_live_view_shows_the_gap_it_waits(tmp_path: Path) -> None:
    view = LiveView(Console(file=io.StringIO(), force_terminal=True), clock=lambda: 100.0)
    view.begin(total=3, already_done=1)
    view.waiting(5, "between cycles (gaps.between_cycles_s)")
    try:
        assert "waiting between cycles (gaps.between_cycles_s): 5.0s left" in snapshot(view)
    finally:
        view.close()


def test_a_terminal_gets_the_live_view_and_a_pipe_plain_lines() -> None:
    assert isinstance(make_view(print, Console(file=io.StringIO(), force_terminal=True)), LiveView)
    plain = make_view(print, Console(file=io.StringIO()))
    assert type(plain) is ProgressView


CAMPAIGN_FILE = """
name: live
models: [m]
backends:
  stub: {params: {work_ms_per_token: 0.1}}
workload: {n_requests: 2, max_output_tokens: 2}
measurement: {sample_hz: 50, baseline: {duration_s: 2.5}, warmup: {max_requests: 2}}
cycles: 1
executor: local
"""


def test_camp_run_on_a_terminal_shows_the_harness_phase_live(tmp_path: Path) -> None:
    """Through a pseudo-terminal, with the real harness (local executor): its 2.5 s idle baseline
    is on screen while it lasts."""
    campaign = tmp_path / "live.yaml"
    campaign.write_text(CAMPAIGN_FILE)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "run",
            str(campaign),
            "--results-dir",
            str(tmp_path / "r"),
        ],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, screen.decode(errors="replace")
    text = screen.decode(errors="replace")
    assert re.search(r"idle baseline \d+\.\ds", text), text
    assert "[1/1] stub m" in text and "0 done, 1 left" in text
    assert "report: " in text


def _read_until_closed(*leaders: int) -> dict[int, bytes]:
    """Everything written to each pseudo-terminal until the child closes them all."""
    screens = {fd: b"" for fd in leaders}
    open_fds = set(leaders)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 120)
        if not ready:
            break
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed this terminal
                chunk = b""
            if chunk:
                screens[fd] += chunk
            else:
                open_fds.discard(fd)
    for fd in leaders:
        os.close(fd)
    return screens


def test_camp_run_json_on_a_terminal_keeps_the_live_view_off_stdout(tmp_path: Path) -> None:
    """``camp run --json`` typed at a terminal: stdout (a terminal) holds the one document and no
    drawing; the live view is drawn on stderr (a terminal of its own here)."""
    campaign = tmp_path / "live.yaml"
    campaign.write_text(CAMPAIGN_FILE.replace("duration_s: 2.5", "duration_s: 0.5"))
    out_leader, out_follower = pty.openpty()
    err_leader, err_follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "run",
            str(campaign),
            "--json",
            "--results-dir",
            str(tmp_path / "r"),
        ],
        stdout=out_follower,
        stderr=err_follower,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(out_follower)
    os.close(err_follower)
    screens = _read_until_closed(out_leader, err_leader)
    stdout = screens[out_leader].decode(errors="replace")
    stderr = screens[err_leader].decode(errors="replace")
    assert process.wait(timeout=120) == 0, stdout + stderr
    assert "\x1b" not in stdout, stdout  # no cursor moves, colours or spinner on stdout
    document = json.loads(stdout.replace("\r\n", "\n"))
    assert document["command"] == "run" and document["counts"]["done"] == 1
    assert "\x1b[?25l" in stderr and "[1/1] stub m" in stderr  # rich's live view, on stderr
