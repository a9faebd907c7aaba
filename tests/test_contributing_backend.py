"""docs/contributing.md's "Adding a backend", done as written: its files written from its code
blocks, its commands run as they read (a fresh `camp` per command, the local executor's harness
in its own process). A step that stops working fails here."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from camp_contract.layout import run_files
from camp_contract.models import RunResult
from orchestrator.manifest import Manifest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "contributing.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_documented_steps_register_a_backend_that_camp_runs(tmp_path: Path) -> None:
    blocks = BLOCK.findall(section("Adding a backend"))
    files = [body for language, body in blocks if language in ("python", "yaml")]
    for body in files:  # each file's block starts with a comment naming it
        (tmp_path / body.splitlines()[0].removeprefix("# ").strip()).write_text(body, encoding="utf-8")
    (commands,) = [body for language, body in blocks if language == "sh"]
    env = {**os.environ, "PWD": str(tmp_path)}
    env.pop("CAMP_RESULTS_DIR", None)
    for line in commands.splitlines():
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = _expand(value, env)
            continue
        argv = shlex.split(line)
        assert argv[0] == "camp", line
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"

    schema = json.loads((tmp_path / "campaign.schema.json").read_text())
    assert schema["$defs"]["Backends"]["properties"]["echo"]["$ref"] == "#/$defs/EchoSection"
    campaign_dir = tmp_path / "results" / "echo-demo"
    with Manifest.open_readonly(campaign_dir) as manifest:
        runs = manifest.runs()
    assert sorted(run.state for run in runs) == ["done", "done"]
    for run in runs:
        result = RunResult.model_validate_json(
            run_files(campaign_dir.parent, "echo-demo", run.exp_id, 0).result.read_bytes()
        )
        assert result.backend == "echo" and result.metrics.output_tokens == 4 * 8
        assert result.environment["power_source"] == "synthetic"
        assert result.environment["backend_params"]["batch_size"] in (1, 4)


def _expand(value: str, env: dict[str, str]) -> str:
    """``"$PWD:$PYTHONPATH"`` as a shell with ``env`` would read it."""
    return re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), shlex.split(value)[0])
