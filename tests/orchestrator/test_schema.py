"""`camp schema`: the JSON Schema of a campaign file, backend parameters typed, committed as
docs/campaign.schema.json (kept equal to what camp prints) and named by every example campaign."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from camp_contract.backends import BackendEntry, register_backend
from camp_contract.params import BackendParams
from orchestrator import cli

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "campaign.schema.json"
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/campaign.schema.json"


def camp_schema(*args: str) -> str:
    result = CliRunner().invoke(cli.main, ["schema", *args])
    assert result.exit_code == 0, result.output
    return result.output


def problems(schema: dict[str, Any], campaign: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [".".join(map(str, e.absolute_path)) for e in validator.iter_errors(campaign)]


def test_the_committed_schema_is_what_camp_schema_prints() -> None:
    assert camp_schema() == COMMITTED.read_text(encoding="utf-8"), (
        "docs/campaign.schema.json is stale: `camp schema --output docs/campaign.schema.json`"
    )


def test_output_writes_the_schema_atomically(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert camp_schema("--output", str(target)) == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"]


def test_every_example_campaign_names_the_schema_and_keeps_to_it() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    campaigns = sorted((REPO / "campaigns").glob("*.yaml"))
    assert campaigns
    for path in campaigns:
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == SCHEMA_LINE, path.name
        assert problems(schema, yaml.safe_load(text)) == [], path.name


def test_backend_parameters_and_grid_values_are_typed_by_their_backend() -> None:
    schema = json.loads(camp_schema())
    good = {
        "name": "t",
        "models": ["m"],
        "backends": {
            "stub": {"params": {"work_ms_per_token": 1}, "grid": {"batch_size": [1, 4]}},
            "vllm": {"grid": {"tensor_parallel_size": [1, 2], "workload.max_output_tokens": [8]}},
        },
        "grid": {"dtype": ["float16"]},
        "gpus": [0, "GPU-1"],
    }
    assert problems(schema, good) == []
    bad = {
        **good,
        "backends": {
            "stub": {"params": {"work_ms": 1}, "grid": {"batch_size": [0]}},
            "pytorch": {"params": {"dtype": "bfloat61"}, "grid": {"batch_size": 4}},
            "stubb": {},
        },
    }
    assert sorted(problems(schema, bad)) == [
        "backends",  # stubb
        "backends.pytorch.grid.batch_size",  # a grid axis is a list
        "backends.pytorch.params.dtype",
        "backends.stub.grid.batch_size.0",
        "backends.stub.params",  # work_ms
    ]


def test_a_registered_backend_is_in_the_schema(backend_registry: ModuleType) -> None:
    class EchoParams(BackendParams):
        repeats: int = 1

    register_backend(BackendEntry(name="echo", params=EchoParams, implementation="m:Echo"))
    schema = json.loads(camp_schema())
    assert problems(schema, {"name": "t", "backends": {"echo": {"grid": {"repeats": [1, 2]}}}}) == []
    assert problems(schema, {"name": "t", "backends": {"echo": {"grid": {"repeats": ["x"]}}}}) == [
        "backends.echo.grid.repeats.0"
    ]


@pytest.mark.parametrize("args", [["plan", "c.yaml"], ["schema"]])
def test_a_plugin_that_cannot_be_imported_is_a_one_line_error(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMP_PLUGINS", "camp_no_such_plugin")
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "camp: CAMP_PLUGINS names 'camp_no_such_plugin', which cannot be imported: "
        "ModuleNotFoundError: No module named 'camp_no_such_plugin'"
    ]
