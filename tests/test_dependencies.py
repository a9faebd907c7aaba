"""`pip install camp` is the host (the `camp` command and `import camp`); the images install the
harness's list only. One source of truth: pyproject.toml reads both lists from their files, and
every Dockerfile reads the harness's."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
HARNESS_LIST = "containers/harness/requirements.txt"
HOST_LIST = "orchestrator/requirements.txt"
FIRST_PARTY = {"camp", "orchestrator", "harness", "camp_contract"}
BACKEND_EXTRAS = ("pytorch", "vllm", "tensorrt")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(path: str) -> list[Requirement]:
    lines = (REPO / path).read_text().splitlines()
    return [Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line]


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """The distributions these requirements pull in, transitively (as installed here)."""
    seen: set[str] = set()
    todo = [r.name for r in requirements]
    while todo:
        name = normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (vllm, tensorrt-llm): its own name is all we know
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def third_party_imports(*roots: str) -> set[str]:
    names: set[str] = set()
    for root in roots:
        for path in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in FIRST_PARTY}


def distributions_of(module: str) -> set[str]:
    found = importlib.metadata.packages_distributions().get(module)
    return {normalized(d) for d in found} if found else {normalized(module)}


def test_the_base_install_is_both_lists_read_from_their_files() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["dependencies"]
    assert "dependencies" not in PYPROJECT["project"]
    files = PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"]["file"]
    assert files == [HARNESS_LIST, HOST_LIST]


def test_every_module_the_host_imports_comes_with_the_base_install() -> None:
    base = installed_closure(listed(HARNESS_LIST) + listed(HOST_LIST))
    missing = {m for m in third_party_imports("camp", "orchestrator") if not distributions_of(m) & base}
    assert missing == set(), f"add their distributions to {HOST_LIST}"
    assert {"pyyaml", "pandas", "python-on-whales", "jinja2"} <= {r.name.lower() for r in listed(HOST_LIST)}


def test_the_harness_needs_only_its_list_and_its_backends_extras() -> None:
    harness = installed_closure(listed(HARNESS_LIST))
    optional = PYPROJECT["project"]["optional-dependencies"]
    extras = installed_closure([Requirement(r) for extra in BACKEND_EXTRAS for r in optional[extra]])
    imports = third_party_imports("containers/harness", "containers/camp_contract")
    missing = {m for m in imports if not distributions_of(m) & (harness | extras)}
    assert missing == set(), f"add their distributions to {HARNESS_LIST}"
    contract = third_party_imports("containers/camp_contract")
    assert {m for m in contract if not distributions_of(m) & harness} == set()
    host_only = {"pyyaml", "pandas", "scipy", "matplotlib", "jinja2", "python-on-whales", "submitit"}
    assert not {normalized(r.name) for r in listed(HARNESS_LIST)} & host_only


@pytest.mark.parametrize("backend", ["stub", "pytorch", "vllm", "tensorrt"])
def test_each_image_installs_the_harness_list_and_never_the_hosts(backend: str) -> None:
    dockerfile = (REPO / "containers" / backend / "Dockerfile").read_text()
    assert f"COPY {HARNESS_LIST} " in dockerfile
    assert HOST_LIST not in dockerfile and "['project']['dependencies']" not in dockerfile
    # the distribution's own install is --no-deps, so the host's list is never pulled in
    assert "--no-deps" in dockerfile


def test_make_venv_installs_extras_that_exist() -> None:
    makefile = (REPO / "Makefile").read_text()
    extras = re.search(r"-e '\.\[([^\]]+)\]'", makefile)
    assert extras is not None
    assert set(extras.group(1).split(",")) <= set(PYPROJECT["project"]["optional-dependencies"])
    assert HARNESS_LIST in makefile and HOST_LIST in makefile  # the venv is rebuilt when they change
    assert PYPROJECT["project"]["optional-dependencies"]["host"] == []  # `.[host]` still installs
