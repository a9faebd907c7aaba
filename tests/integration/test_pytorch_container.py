"""The real PyTorch backend in a real container on a machine without a GPU: `camp run` →
`docker compose run --rm pytorch` (compose.cpu.yaml drops the GPU reservation the engine could
not satisfy) → transformers' generate() on a tiny random GPT-2 read from a local path in the
results volume → result.json, metered by the synthetic source. Needs the camp-pytorch image
with a CPU torch (CAMP_REQUIRE_PYTORCH_IMAGE=1 bash scripts/provision-docker.sh; required in CI)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from camp_contract import layout
from camp_contract.models import RunResult
from tests.integration.conftest import camp, status

pytestmark = [pytest.mark.docker, pytest.mark.pytorch_image, pytest.mark.slow]
CONTAINER_MODEL = "/results/models/tiny-gpt2"  # the results volume, as the container sees it

CAMPAIGN = """\
name: {name}
models: [{model}]
backends:
  pytorch:
    grid:
      batch_size: [1, 2]
    params: {{device: cpu, dtype: float32}}
workload: {{n_requests: 4, max_input_tokens: 16, max_output_tokens: 8}}
cycles: 1
timeout_s: 300
retries: 0
executor: docker
measurement:
  power_source: synthetic
  sample_hz: 100
  baseline: {{duration_s: 0.5}}
  settle: {{probe_s: 0.1}}
  warmup: {{min_requests: 1, max_requests: 4, window: 2}}
"""


def test_a_pytorch_campaign_runs_in_its_container_on_the_cpu(tmp_path: Path) -> None:
    from harness.backends.tiny_model import save_tiny

    results = tmp_path / "results"
    model_dir = results / "models" / "tiny-gpt2"
    model_dir.mkdir(parents=True)
    save_tiny("tiny-random:gpt2", 0, model_dir)  # random weights and a tokenizer, built offline
    for path in [results, *results.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    name = f"it-pt-{uuid.uuid4().hex[:10]}"
    campaign_file = tmp_path / "pytorch.yaml"
    campaign_file.write_text(CAMPAIGN.format(name=name, model=CONTAINER_MODEL))

    ran = camp("run", str(campaign_file), "--results-dir", str(results), "--executor", "docker")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    campaign_dir = layout.campaign_dir(results, name)
    state = status(campaign_dir)
    assert state["counts"]["done"] == 2 and sum(state["counts"].values()) == 2, state
    for spec in campaign_dir.glob("*/c0/spec.json"):
        result = RunResult.model_validate_json((spec.parent / "result.json").read_bytes())
        assert result.backend == "pytorch" and result.model == CONTAINER_MODEL
        assert result.metrics.output_tokens > 0 and result.energy.total_j > 0
        assert result.provenance.image == "camp-pytorch"  # the real backend's image, not the stub's
        assert result.provenance.image_id  # the host told the run which image it started from
