"""``camp calibrate`` runs ``camp-harness calibrate`` in a child process: its arguments, output
and exit code go through untouched, and Ctrl-C reaches it once. (What the command itself does is
tested in tests/harness/test_calibrate_command.py.)"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli
from orchestrator.cli_calibrate import harness_command, run_passing_through

SHORT = ["--source", "synthetic", "--windows", "0.1,0.3", "--idle-s", "0.1", "--settle-s", "0"]


def test_it_runs_the_harness_command_with_the_same_arguments() -> None:
    assert harness_command(["calibrate", "--gpu", "1"]) == [
        sys.executable,
        "-m",
        "harness",
        "calibrate",
        "--gpu",
        "1",
    ]


def test_the_harness_calibration_runs_and_its_output_and_files_come_through(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = CliRunner().invoke(cli.main, ["calibrate", *SHORT, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("camp calibrate: checking synthetic power trace")
    assert "idle power, bare             40.0 W" in result.output
    assert "no tested window is metered within 2%" in result.output
    assert result.output.rstrip().endswith(f"written: {out}")
    assert [w["verdict"] for w in json.loads(out.read_text())["windows"]] == ["too_short", "too_short"]


def test_a_bad_option_is_the_harness_usage_error_and_exit_2() -> None:
    result = CliRunner().invoke(cli.main, ["calibrate", "--sample-hz", "500"])
    assert result.exit_code == 2
    assert "--sample-hz must be in (0, 100], not 500" in result.stderr and result.stdout == ""
    assert "Traceback" not in result.output


def test_a_failure_is_its_one_line_on_stderr_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(cli.main, ["calibrate", *SHORT, "--json", str(blocker / "out.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {blocker / 'out.json'}")
    assert "Traceback" not in result.output


def test_help_is_the_harness_commands() -> None:
    result = CliRunner().invoke(cli.main, ["calibrate", "--help"])
    assert result.exit_code == 0
    assert "--windows TEXT" in result.output and "--idle-s FLOAT" in result.output


CHILD = """
import pathlib, sys, time
pathlib.Path(sys.argv[1]).touch()
try:
    time.sleep(30)
except KeyboardInterrupt:
    print("stopping cleanly", file=sys.stderr, flush=True)
    try:
        time.sleep(1)  # a second SIGINT here would cut the clean stop short
    except KeyboardInterrupt:
        sys.exit(3)
    sys.exit(130)
"""


def test_ctrl_c_reaches_the_child_once_and_its_exit_code_is_camps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = tmp_path / "ready"

    def press_ctrl_c_twice() -> None:
        while not ready.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c_twice, daemon=True)
    presser.start()
    code = run_passing_through([sys.executable, "-c", CHILD, str(ready)])
    presser.join(5)
    assert code == 130
    assert capsys.readouterr().err == "stopping cleanly\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # camp's own Ctrl-C is back
