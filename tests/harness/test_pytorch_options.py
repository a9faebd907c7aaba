"""PyTorch backend options reach transformers for real (CPU, offline tiny model, no mocks): the
tiny model loads through the same ``from_pretrained`` call as a real checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from camp_contract.models import RunSpec, Workload
from harness.backends.pytorch import PyTorchBackend


def spec(**params: Any) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="e",
        cycle=0,
        backend="pytorch",
        model="tiny-random:gpt2",
        params={"device": "cpu", **params},
        workload=Workload(n_requests=2, max_input_tokens=6, max_output_tokens=3),
    )


def loaded(**params: Any) -> PyTorchBackend:
    backend = PyTorchBackend()
    backend.load(spec(**params))
    return backend


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_attn_implementation_is_the_one_asked_for(attention: str) -> None:
    backend = loaded(attn_implementation=attention)
    assert backend.model.config._attn_implementation == attention
    assert [c.output_tokens for c in backend.run(["energy of the model", "power"])] == [3, 3]


def test_extra_goes_to_from_pretrained() -> None:
    # a config attribute passed to from_pretrained overrides the checkpoint's config
    assert loaded().model.config.use_cache is True
    assert loaded(extra={"use_cache": False}).model.config.use_cache is False


def test_dtype_auto_keeps_the_checkpoints_dtype_and_bfloat16_converts() -> None:
    assert loaded(dtype="auto").model.dtype == torch.float32
    backend = loaded(dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in backend.model.parameters())
    assert len(backend.run(["energy"])) == 1


def test_a_bad_extra_argument_fails_at_load_with_its_name() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        loaded(extra={"no_such_option": 1})
