"""docs/reference/campaign.md and backends.md: generated from the campaign's schema by `camp schema
--markdown`, kept current (like docs/campaign.schema.json), every field described, linked from
the README."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from orchestrator import cli

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "reference"
REGENERATE = "`camp schema --markdown docs/reference`"


def generate(folder: Path) -> dict[str, str]:
    result = CliRunner().invoke(cli.main, ["schema", "--markdown", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"wrote {folder / 'campaign.md'}" in result.output
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}


def test_the_committed_references_are_what_camp_generates(tmp_path: Path) -> None:
    generated = generate(tmp_path / "reference")
    assert sorted(generated) == ["backends.md", "campaign.md"]
    for name, text in generated.items():
        assert text == (COMMITTED / name).read_text(encoding="utf-8"), (
            f"docs/reference/{name} is stale: {REGENERATE}"
        )


def rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in text.splitlines()
        if line.startswith("| `")
    ]


def test_every_field_has_a_type_a_default_and_a_description() -> None:
    campaign = rows((COMMITTED / "campaign.md").read_text(encoding="utf-8"))
    backends = rows((COMMITTED / "backends.md").read_text(encoding="utf-8"))
    undescribed = [row[0] for row in campaign + backends if not row[4]]
    assert not undescribed, f"add description= to these fields, then {REGENERATE}: {undescribed}"
    fields = {row[0]: row for row in campaign}
    assert fields["`cycles`"][1:4] == ["integer", "`3`", "≥ 1, ≤ 10 000"]
    assert fields["`order.mode`"][1] == "one of `balanced`, `interleaved`, `shuffled`, `grouped`"
    assert fields["`measurement.baseline.duration_s`"][1:4] == ["number", "`5.0`", "> 0, ≤ 86400"]
    assert "`workload.max_output_tokens`" in fields and "`name`" in fields
    assert fields["`name`"][2] == "required"


def test_each_backend_has_its_parameters() -> None:
    text = (COMMITTED / "backends.md").read_text(encoding="utf-8")
    for backend in ("stub", "pytorch", "vllm", "tensorrt"):
        assert f"## `{backend}`" in text
    assert '| `dtype` | one of `auto`, `float32`, `float16`, `bfloat16` | `"auto"` |' in text
    assert "| `tensor_parallel_size` | integer | `1` | ≥ 1, ≤ 1024 |" in text


def test_the_readme_links_them() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/reference/campaign.md" in readme and "docs/reference/backends.md" in readme
