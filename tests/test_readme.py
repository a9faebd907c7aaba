"""The README a new user opens: its first lines give the two commands (the main job and the
tests), and it shows every command a researcher's day needs, with the references linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def shell_lines() -> list[str]:
    """Every line of the README's sh and python blocks."""
    blocks = re.findall(r"```(?:sh|python)\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def test_the_first_lines_give_the_main_job_and_the_tests() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first_block is not None and README.read_text().index(first_block.group(0)) < 200
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make smoke", "make test"]


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("-s overrides", r"^camp (run|plan) \S+ -s \w+="),
        ("plan --resolved", r"^camp plan .*--resolved"),
        ("run --yes", r"^camp run .*--yes"),
        ("--json", r"^camp \w+ .*--json"),
        ("status by name", r"^camp status [\w-]+(\s|$)(?!.*\.yaml)"),
        ("compare by label", r'^camp compare \S+ "?\w+=[^"]+"? "?\w+=[^"]+"?'),
        ("report --by", r"^camp report .*--by \w+"),
        ("import camp", r"^import camp$"),
        ("overrides from Python", r"overrides=\["),
    ],
)
def test_the_readme_shows_each_command(what: str, pattern: str) -> None:
    assert any(re.search(pattern, line) for line in shell_lines()), f"README shows no {what}"


def test_the_readme_links_the_generated_references() -> None:
    text = README.read_text()
    for reference in ("docs/reference/campaign.md", "docs/reference/backends.md"):
        assert f"]({reference})" in text and (README.parent / reference).is_file()
