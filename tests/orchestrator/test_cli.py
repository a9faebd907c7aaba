from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli
from orchestrator.manifest import RUN_STATES, Manifest, RunRow
from tests.orchestrator.fakes import FakeExecutor, crash, succeed

CAMPAIGN = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
  vllm: {}
grid: {batch_size: [1]}
cycles: 2
retries: 0
"""


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(CAMPAIGN)
    return path


def invoke(*args: str, executor: FakeExecutor | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    if executor is not None and monkeypatch is not None:
        monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (executor, None))
    return CliRunner().invoke(cli.main, list(args))


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and "camp, version" in result.output


def test_plan_counts_lists_and_shows_rejections_without_writing(campaign_file: Path, tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    result = invoke("plan", str(campaign_file))
    assert result.exit_code == 0, result.output
    assert "2 experiments × 2 cycles = 4 runs" in result.output
    assert "stub: 2 experiments, 0 grid points rejected" in result.output
    assert "vllm: 0 experiments, 1 grid points rejected" in result.output
    assert "batch_size: is not a parameter of this backend" in result.output
    assert sorted(tmp_path.rglob("*")) == before


def test_plan_lists_the_run_order_and_says_whether_carry_over_is_balanced(tmp_path: Path) -> None:
    grid = "name: t\nmodels: [m]\nbackends: {stub: {grid: {batch_size: [1, 2, 3, 4]}}}\ncycles: 3\n"
    path = tmp_path / "c.yaml"
    path.write_text(grid)
    balanced = invoke("plan", str(path), "--runs", "5")
    assert balanced.exit_code == 0, balanced.output
    assert "run order (balanced, seed 0):" in balanced.output and "… 7 more" in balanced.output
    listed = [line.split() for line in balanced.output.splitlines() if line.strip()[:2] in {"1 ", "5 "}]
    assert [row[:2] for row in listed] == [["1", "c0"], ["5", "c1"]] and listed[0][3] == "stub"
    assert "no experiment always runs after the same one" in balanced.output
    path.write_text(grid + "order: {mode: interleaved}\n")
    interleaved = invoke("plan", str(path))
    assert "4 of 4 experiments run right after the same experiment in every cycle" in interleaved.output


def test_bad_config_exits_2_with_the_problems_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nmodels: [m]\nbackends: {stub: {grid: {batchsize: [1]}}}\ncycles: -1\n")
    for args in (["plan", str(bad)], ["run", str(bad), "--results-dir", str(tmp_path / "results")]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "did you mean 'batch_size'" in result.output and "cycles" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "results").exists()


def test_run_then_status(campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    result = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor(),
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert "4 done, 0 failed, 0 pending" in result.output
    status = invoke("status", str(campaign_file), "--results-dir", str(results), "--json")
    data = json.loads(status.output)
    assert data["counts"]["done"] == 4 and len(data["runs"]) == 4
    plain = invoke("status", str(campaign_file), "--results-dir", str(results)).output
    assert plain.splitlines()[0].endswith(": 4/4 done")  # no dangling ", " when nothing else is left
    again = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor(),
        monkeypatch=monkeypatch,
    )
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_a_failed_run_exits_1_and_status_shows_why(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    result = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor([crash, succeed]),
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 1
    status = invoke("status", str(results / "t"))
    assert "3/4 done" in status.output and "exited with code 3" in status.output


def test_ctrl_c_exits_130(campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executor = FakeExecutor()
    executor.behaviours = [executor.ctrl_c]
    result = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(tmp_path / "r"),
        executor=executor,
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 130
    assert "interrupted" in result.output


def test_status_of_a_campaign_never_run(campaign_file: Path, tmp_path: Path) -> None:
    result = invoke("status", str(campaign_file), "--results-dir", str(tmp_path / "none"))
    assert result.exit_code == 1 and "has this campaign been run?" in result.output


def test_help_and_version_import_no_pydantic_yaml_or_pandas(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from orchestrator.cli import main\n"
        "for args in (['--help'], ['--version']):\n"
        "    try:\n"
        "        main(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pydantic', 'yaml', 'pandas', 'python_on_whales', 'matplotlib', 'camp_contract.models')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "containers")])}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_status_of_a_results_directory_imports_no_pydantic(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`camp status --json` of a 100k-run campaign has half a second: the contract's models
    (pydantic) would take a fifth of it, and status needs none of them."""
    from camp_contract.backends import PLUGINS_VARIABLE
    from orchestrator import cli

    assert cli.PLUGINS_VARIABLE == PLUGINS_VARIABLE
    results = tmp_path / "results"
    ran = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor(),
        monkeypatch=monkeypatch,
    )
    assert ran.exit_code == 0, ran.output
    campaign_dir = next(p.parent for p in results.glob("*/manifest.sqlite"))
    probe = (
        "import sys\n"
        "from orchestrator.cli import main\n"
        "try:\n"
        f"    main(['status', {str(campaign_dir)!r}, '--json'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('pydantic', 'camp_contract.models') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != PLUGINS_VARIABLE}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "containers")])
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert '"command":"status"' in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_status_reads_only_the_runs_it_lists(
    campaign_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor([crash, succeed]),
        monkeypatch=monkeypatch,
    )
    read: list[tuple[str, ...]] = []
    real = Manifest.runs

    def runs(
        self: Manifest, *, states: tuple[str, ...] = RUN_STATES, active_only: bool = True
    ) -> list[RunRow]:
        read.append(tuple(states))
        return real(self, states=states, active_only=active_only)  # type: ignore[arg-type]

    monkeypatch.setattr(Manifest, "runs", runs)
    status = invoke("status", str(results / "t"))
    assert "3/4 done, 1 failed" in status.output and "exited with code 3" in status.output
    assert read and all("done" not in states for states in read)
