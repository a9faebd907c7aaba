"""A typo in a value is an error of the campaign file, with the allowed values and a did-you-mean;
only a point that breaks a rule across parameters is a rejected grid point (as a user sees it)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from orchestrator import cli


def _camp(tmp_path: Path, campaign: str, *args: str) -> Result:
    path = tmp_path / "c.yaml"
    path.write_text(campaign)
    return CliRunner().invoke(cli.main, [*args[:1], str(path), *args[1:]])


def test_a_misspelt_grid_value_stops_the_run_with_the_allowed_values_and_a_did_you_mean(
    tmp_path: Path,
) -> None:
    campaign = "name: t\nmodels: [m]\nbackends:\n  pytorch:\n    grid: {dtype: [float32, flaot16]}\n"
    result = _camp(tmp_path, campaign, "run", "--results-dir", str(tmp_path / "results"))
    assert result.exit_code == 2, result.output
    assert (
        "c.yaml:5: backends.pytorch.grid.dtype.1: 'flaot16' is not one of auto, float32, float16, "
        "bfloat16 — did you mean 'float16'?" in result.output
    )
    assert not (tmp_path / "results").exists()


def test_a_value_a_field_validator_refuses_is_an_error_not_a_rejected_point(tmp_path: Path) -> None:
    campaign = (
        "name: t\nmodels: [m]\nbackends:\n"
        "  vllm:\n    grid: {kv_cache_dtype: [auto, fp9], quantization: [awk]}\n"
        "  stub:\n    params: {fault: crsh}\n"
    )
    result = _camp(tmp_path, campaign, "plan")
    assert result.exit_code == 2, result.output
    assert "backends.vllm.grid.kv_cache_dtype.1: 'fp9' is not one of auto, bfloat16, fp8," in result.output
    assert "— did you mean 'fp8'?" in result.output
    assert (
        "backends.vllm.grid.quantization.0: 'awk' is not one of awq, awq_marlin," in result.output
        and "did you mean 'awq'? or pass a newer one as extra: {quantization: ...}" in result.output
    )
    assert "backends.stub.params.fault: 'crsh' is not one of none, crash," in result.output
    assert "rejected" not in result.output


def test_a_shared_value_no_listed_backend_accepts_is_an_error_whatever_its_case(tmp_path: Path) -> None:
    campaign = (
        "name: t\nmodels: [m]\nbackends:\n  tensorrt:\n    params: {engine: tensorrt}\n"
        "grid:\n  quantization: [FP8, fp8]\n"
    )
    result = _camp(tmp_path, campaign, "plan")
    assert result.exit_code == 2, result.output
    assert "c.yaml:7: grid.quantization.1: 'fp8' is not one of FP8," in result.output
    assert "did you mean 'FP8'?" in result.output


def test_real_incompatibilities_remain_rejected_points(tmp_path: Path) -> None:
    campaign = (
        "name: t\nmodels: [m]\nbackends:\n"
        "  pytorch:\n    grid: {dtype: [float32, float16], attn_implementation: [flash_attention_2]}\n"
    )
    result = _camp(tmp_path, campaign, "plan")
    assert result.exit_code == 0, result.output
    assert "pytorch: 1 experiments, 1 grid points rejected" in result.output
    assert "flash_attention_2 needs dtype float16 or bfloat16" in result.output


def test_a_shared_value_one_listed_backend_spells_differently_is_a_rejected_point(tmp_path: Path) -> None:
    campaign = (
        "name: t\nmodels: [m]\nbackends:\n  vllm: {}\n  tensorrt: {params: {engine: tensorrt}}\n"
        "grid:\n  quantization: [fp8]\n"  # vLLM's spelling; tensorrt's is FP8
    )
    result = _camp(tmp_path, campaign, "plan")
    assert result.exit_code == 0, result.output
    assert "vllm: 1 experiments, 0 grid points rejected" in result.output
    assert "tensorrt: 0 experiments, 1 grid points rejected" in result.output
