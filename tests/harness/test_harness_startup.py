"""What ``camp-harness`` imports before it does anything: it starts once per run, in every
container, so a subcommand's heavy imports (calibrate's bench and NVML, the contract
fingerprint's timeseries schema, hence pyarrow) are paid only by that subcommand; ``--version``
imports no contract (pydantic), and a run builds only its own backend's models and imports
pyarrow only to write its trace (benchmarks/dispatch_overhead.py times what is left)."""

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


def _loaded_after(code: str, modules: tuple[str, ...] = HEAVY, result: str = "") -> dict[str, bool]:
    """Which of ``modules`` a fresh interpreter has imported after ``code`` (or, given
    ``result``, the dict ``code`` left in that variable)."""
    answer = result or f"{{m: m in sys.modules for m in {modules!r}}}"
    script = f"import json, sys\n{code}\nprint(json.dumps({answer}))"
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


def test_version_imports_none_of_them_nor_the_contract() -> None:
    code = (
        "from harness.cli import main\n"
        "try:\n    main(['--version'], prog_name='camp-harness')\nexcept SystemExit:\n    pass"
    )
    contract = ("pydantic", "camp_contract.models")
    assert _loaded_after(code, HEAVY + contract) == dict.fromkeys(HEAVY + contract, False)


def test_a_run_imports_pyarrow_only_to_write_its_trace() -> None:
    assert _loaded_after("import harness.run", ("pyarrow",)) == {"pyarrow": False}


def test_a_spec_builds_only_its_own_backend_s_models() -> None:
    """The contract's models are built when first used (``defer_build``); validating a stub
    spec builds the stub's spec type, not every backend's."""
    code = (
        "from camp_contract.models import RunSpec\n"
        "from camp_contract import params\n"
        "spec = RunSpec.model_validate({'campaign': 'c', 'exp_id': 'e', 'cycle': 0, 'backend': 'stub',"
        " 'model': 'm', 'params': {'batch_size': 2}})\n"
        "assert spec.params == params.StubParams(batch_size=2), spec\n"
        "built = {name: getattr(params, name).__pydantic_complete__ for name in"
        " ('StubParams', 'PyTorchParams', 'VllmParams', 'TensorRTParams')}"
    )
    built = _loaded_after(code, (), "built")
    assert built == {"StubParams": True, "PyTorchParams": False, "VllmParams": False, "TensorRTParams": False}


def test_calibrate_is_listed_and_loaded_when_asked() -> None:
    listed = CliRunner().invoke(cli.main, ["--help"])
    assert listed.exit_code == 0 and "calibrate" in listed.output and "run" in listed.output
    helped = CliRunner().invoke(cli.main, ["calibrate", "--help"])
    assert helped.exit_code == 0 and "--windows" in helped.output
