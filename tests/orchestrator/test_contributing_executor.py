"""docs/contributing.md's "Adding an executor", followed exactly as written: its runtime module
saved as a file, its registry entry run, its campaign run with its command."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from camp_contract import layout
from camp_contract.models import RunResult
from orchestrator import cli
from orchestrator.executors import registry
from orchestrator.manifest import Manifest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "contributing.md"
SECTION = "## Adding an executor"


def code_blocks(language: str) -> list[str]:
    text = GUIDE.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_the_documented_executor_runs_a_stub_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    runtime_module, entry = code_blocks("python")
    (campaign,) = code_blocks("yaml")
    (command,) = code_blocks("console")
    monkeypatch.setattr(registry, "EXECUTORS", dict(registry.EXECUTORS))  # the entry is undone afterwards

    # 1. The runtime: one module (its file name is the first line of its docstring).
    module_name = re.match(r'"""(\w+)\.py:', runtime_module)
    assert module_name is not None, "the runtime block starts by naming its file"
    module = module_name.group(1)
    (tmp_path / f"{module}.py").write_text(runtime_module)
    request.addfinalizer(lambda: sys.modules.pop(module, None))
    monkeypatch.syspath_prepend(str(tmp_path))
    # 2. One entry.
    exec(compile(entry, "contributing.md", "exec"), {})
    # 3. Use it.
    name = re.search(r"^name: (\S+)$", campaign, flags=re.MULTILINE)
    assert name is not None
    (tmp_path / f"{name.group(1)}.yaml").write_text(campaign)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMP_RESULTS_DIR", raising=False)
    program, *arguments = shlex.split(command.strip())
    assert program == "camp"
    done = CliRunner().invoke(cli.main, arguments)

    assert done.exit_code == 0, done.output
    assert "with executor 'clean-env'" in done.output
    campaign_dir = tmp_path / "results" / name.group(1)
    with Manifest.open_readonly(campaign_dir) as manifest:
        (run,) = manifest.runs()
    assert run.state == "done"
    result = RunResult.model_validate_json(
        layout.run_files(tmp_path / "results", name.group(1), run.exp_id, 0).result.read_text()
    )
    assert result.exp_id == run.exp_id
