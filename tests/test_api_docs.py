"""docs/api.md's worked example, run as written: the campaign in its YAML block saved as
tiny.yaml, its Python blocks run in order in that directory, the runs real (the stub through the
local executor: the harness as a child process)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
API_DOC = REPO / "docs" / "api.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", API_DOC.read_text(), flags=re.DOTALL)


@pytest.mark.slow
def test_the_worked_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (campaign,) = blocks("yaml")
    (tmp_path / "tiny.yaml").write_text(campaign)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for code in blocks("python"):
        exec(compile(code, str(API_DOC), "exec"), namespace)  # the page's own asserts check it
    assert (tmp_path / "results" / "tiny" / "manifest.sqlite").is_file()
    # as after `camp run`, the tables and the report are refreshed by the run (reading writes nothing)
    assert (tmp_path / "results" / "tiny" / "aggregate" / "experiments.csv").is_file()
    assert (tmp_path / "results" / "tiny" / "report" / "index.html").is_file()
    summary = namespace["summary"]
    assert summary.counts["done"] == 4 and summary.done == 4  # type: ignore[attr-defined]


def test_the_readme_links_the_api_page() -> None:
    assert "docs/api.md" in (REPO / "README.md").read_text()
