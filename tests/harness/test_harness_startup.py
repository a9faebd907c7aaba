"""What ``camp-harness`` imports before it does anything: it starts once per run, in every
container, so a subcommand's heavy imports (calibrate's bench and NVML, the contract
fingerprint's timeseries schema, hence pyarrow) are paid only by that subcommand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness import cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("harness.calibrate", "harness.calibrate_command", "harness.measurement.nvml", "pyarrow")


def _loaded_after(code: str) -> dict[str, bool]:
    script = f"import json, sys\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "containers"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_the_cli_module_imports_no_subcommand_s_heavy_modules() -> None:
    assert _loaded_after("import harness.cli") == dict.fromkeys(HEAVY, False)


def test_version_imports_none_of_them_either() -> None:
    code = (
        "from harness.cli import main\n"
        "try:\n    main(['--version'], prog_name='camp-harness')\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_calibrate_is_listed_and_loaded_when_asked() -> None:
    listed = CliRunner().invoke(cli.main, ["--help"])
    assert listed.exit_code == 0 and "calibrate" in listed.output and "run" in listed.output
    helped = CliRunner().invoke(cli.main, ["calibrate", "--help"])
    assert helped.exit_code == 0 and "--windows" in helped.output
