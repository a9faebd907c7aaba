from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.campaign import load_campaign, parse_campaign
from orchestrator.config_errors import ConfigError

GOOD = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
"""


def problems(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_campaign(text, Path("c.yaml"))
    return caught.value


def test_a_minimal_campaign_gets_researcher_defaults() -> None:
    campaign = parse_campaign(GOOD, Path("c.yaml"))
    assert campaign.cycles == 3
    assert campaign.order.mode == "balanced"  # carry-over spread over the cycles
    assert campaign.workload.fixed_output_length is True
    assert campaign.models_for("stub") == ["m"]


def test_every_problem_is_reported_at_once_with_line_field_and_hint() -> None:
    err = problems(
        "name: t\n"
        "models: [m]\n"
        "backends:\n"
        "  stubb: {}\n"
        "  stub:\n"
        "    grid: {batchsize: [1]}\n"
        "workload:\n"
        "  n_request: 4\n"
        "order: {mode: interleave}\n"
    )
    text = str(err)
    assert "4 problems" in text
    assert "c.yaml:4: backends.stubb: unknown backend 'stubb' — did you mean 'stub'?" in text
    assert (
        "c.yaml:6: backends.stub.grid.batchsize: unknown stub parameter 'batchsize'"
        " — did you mean 'batch_size'?" in text
    )
    assert "c.yaml:8: workload.n_request: unknown field 'n_request' — did you mean 'n_requests'?" in text
    assert (
        "c.yaml:9: order.mode: 'interleave' is not one of balanced, interleaved, shuffled, grouped"
        " — did you mean 'interleaved'?" in text
    )
    # listed in file order
    assert text.index("c.yaml:4") < text.index("c.yaml:6") < text.index("c.yaml:8")


def test_yaml_syntax_error_names_the_line() -> None:
    err = problems("name: t\nbackends:\n  stub: {grid: [1,\n")
    assert "not valid YAML" in str(err)
    assert "c.yaml:" in str(err)


def test_shared_grid_key_no_backend_takes_is_a_typo() -> None:
    err = problems(GOOD + "grid: {batch_sise: [1]}\n")
    assert "grid.batch_sise" in str(err) and "did you mean 'batch_size'" in str(err)


def test_unknown_workload_axis_is_reported() -> None:
    err = problems(GOOD + "grid: {workload.max_output_tokenz: [1]}\n")
    assert (
        "unknown grid axis 'workload.max_output_tokenz' — did you mean 'workload.max_output_tokens'?"
        in str(err)
    )


def test_backend_without_model_is_an_error() -> None:
    err = problems("name: t\nbackends:\n  stub: {}\n")
    assert "backend 'stub' has no model" in str(err)


def test_models_may_be_pinned_and_a_broken_pin_is_named_with_its_line() -> None:
    pinned = "name: t\nmodels: [org/m@v1, ./ckpt@2]\nbackends:\n  stub: {}\n"
    assert parse_campaign(pinned, Path("c.yaml")).models == ["org/m@v1", "./ckpt@2"]  # a path is a path
    err = str(problems("name: t\nmodels: [org/m@]\nbackends:\n  stub: {models: ['@main']}\n"))
    assert "c.yaml:2: models.0: model 'org/m@': write a pinned model as org/name@<" in err
    assert "c.yaml:4: backends.stub.models.0: model '@main'" in err


def test_not_a_mapping_and_unreadable_file(tmp_path: Path) -> None:
    assert "is a mapping" in str(problems("- a\n- b\n"))
    with pytest.raises(ConfigError) as caught:
        load_campaign(tmp_path / "missing.yaml")
    assert "cannot read the file" in str(caught.value)


def test_scalar_grid_value_is_a_one_point_axis() -> None:
    campaign = parse_campaign(GOOD.replace("[1, 2]", "4"), Path("c.yaml"))
    assert campaign.backends["stub"].grid == {"batch_size": [4]}


def test_shipped_campaigns_are_valid() -> None:
    campaigns = sorted(Path(__file__).resolve().parents[2].joinpath("campaigns").glob("*.yaml"))
    assert campaigns, "no example campaigns shipped"
    for path in campaigns:
        load_campaign(path)


def test_backend_parameters_are_typed_on_load_with_line_field_and_hint() -> None:
    text = str(
        problems(
            "name: t\n"
            "models: [m]\n"
            "backends:\n"
            "  stub:\n"
            "    params: {work_ms: 1}\n"
            "    grid: {batch_size: [0, 2]}\n"
            "  pytorch:\n"
            "    params: {dtype: bfloat61}\n"
            "    grid: {batch_size: [], workload.n_requests: [two]}\n"
        )
    )
    assert "c.yaml:5: backends.stub.params.work_ms: unknown stub parameter 'work_ms'" in text
    assert "c.yaml:6: backends.stub.grid.batch_size.0: Input should be greater than or equal to 1" in text
    assert (
        "c.yaml:8: backends.pytorch.params.dtype: 'bfloat61' is not one of auto, float32, float16, bfloat16"
        " — did you mean 'bfloat16'?" in text
    )
    assert "c.yaml:9: backends.pytorch.grid.batch_size: a grid axis needs at least one value" in text
    assert "c.yaml:9: backends.pytorch.grid.workload.n_requests.0: Input should be a valid integer" in text


def test_a_combination_the_backend_rejects_is_left_to_the_grid() -> None:
    # flash_attention_2 needs half precision: wrong alone, right with the grid's dtypes
    text = (
        GOOD
        + "  pytorch:\n    params: {attn_implementation: flash_attention_2}\n    grid: {dtype: [float16]}\n"
    )
    assert parse_campaign(text, Path("c.yaml")).backends["pytorch"].params == {
        "attn_implementation": "flash_attention_2"
    }


def test_shared_grid_key_only_an_unlisted_backend_takes_is_a_typo() -> None:
    err = problems(GOOD + "grid: {tensor_parallel_size: [2]}\n")
    assert "c.yaml:6: grid.tensor_parallel_size: unknown parameter of any listed backend" in str(err)
