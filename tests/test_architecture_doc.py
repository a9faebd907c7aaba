"""docs/architecture.md names every module: a module added without a line there fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "architecture.md"

# (package directory, whether its sub-packages count too)
PACKAGES = [
    ("orchestrator", False),
    ("orchestrator/executors", False),
    ("orchestrator/report", False),
    ("camp", False),
    ("containers/harness", True),
    ("containers/camp_contract", False),
]
PACKAGE_MARKERS = {"__init__.py", "__main__.py"}


def modules() -> list[Path]:
    found: list[Path] = []
    for package, recursive in PACKAGES:
        pattern = "**/*.py" if recursive else "*.py"
        found += [p for p in sorted((REPO / package).glob(pattern)) if p.name not in PACKAGE_MARKERS]
    return found


def named_in_backticks(module: Path, text: str) -> bool:
    """Named as `name.py`, `name` or a path ending so (`executors/docker.py`, `harness/cli.py`), in
    backticks, possibly with more after the name inside them (`lock_holder`, no; `lock.py`, yes)."""
    stem = re.escape(module.stem)
    return re.search(rf"`(?:[\w./]*/)?{stem}(?:\.py)?`", text) is not None


def named_with_its_parent(module: Path, text: str) -> bool:
    """A name two packages share (`timeseries.py`, `cli.py`) must come with its directory."""
    return f"{module.parent.name}/{module.name}" in text or f"{module.parent.name}/{module.stem}`" in text


def test_every_module_is_named_in_the_architecture_page() -> None:
    text = ARCHITECTURE.read_text()
    names = [m.name for m in modules()]
    missing = []
    for module in modules():
        shared_name = names.count(module.name) > 1
        named = named_with_its_parent(module, text) if shared_name else named_in_backticks(module, text)
        if not named:
            missing.append(str(module.relative_to(REPO)))
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


@pytest.mark.parametrize("package", [p for p, _ in PACKAGES])
def test_the_packages_checked_exist(package: str) -> None:
    assert any((REPO / package).glob("*.py")), package
