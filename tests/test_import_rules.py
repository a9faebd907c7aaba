"""The host and the harness meet only in camp_contract: the host imports nothing from the
harness, the harness nothing from the host, the contract neither. `make lint` checks it with
lint-imports; these tests keep it where lint is not run, in three ways: the pyproject contracts
themselves, what importing each module really loads, and every import statement (a function's
own included) in the source."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    "camp": REPO / "camp",
    "orchestrator": REPO / "orchestrator",
    "harness": REPO / "containers" / "harness",
    "camp_contract": REPO / "containers" / "camp_contract",
}
FORBIDDEN = {
    "camp": ("harness",),  # the Python API is host side
    "orchestrator": ("harness",),
    "harness": ("camp", "orchestrator"),
    "camp_contract": ("camp", "harness", "orchestrator"),
}


def test_the_import_linter_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter.cli import lint_imports

    passed = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert passed == 0, report
    assert "Contracts: 3 kept, 0 broken." in report


def modules_of(package: str) -> list[str]:
    root = PACKAGE_DIRS[package]
    return sorted(
        ".".join((package, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for path in root.rglob("*.py")
        if path.name != "__main__.py"
    )


@pytest.mark.parametrize("package", ["camp", "orchestrator", "camp_contract"])
def test_importing_every_module_loads_nothing_of_the_other_side(package: str) -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules_of(package)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "containers"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "orchestrator.cli" in loaded or package != "orchestrator"
    offending = [m for m in loaded if m.split(".")[0] in FORBIDDEN[package]]
    assert offending == []


def imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_statement_crosses_to_the_other_side(package: str) -> None:
    crossing = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted(PACKAGE_DIRS[package].rglob("*.py"))
        for name in imported_names(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert crossing == []
