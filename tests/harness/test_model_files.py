"""Model files fetched before anything is metered and pinned to a Hub commit (fake Hub:
tests/fake_hub.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest

from camp_contract.models import RunSpec
from harness.backends.tiny_model import save_tiny
from harness.model_files import NEVER_NEEDED, OTHER_WEIGHT_FORMATS, ModelFetchError, fetch_model
from harness.run import run_experiment
from tests.fake_hub import COMMIT, FakeHub
from tests.harness.test_pytorch_backend import spec as pytorch_spec


def hub_spec(model: str) -> RunSpec:
    return pytorch_spec().model_copy(update={"model": model})


def test_a_hub_model_is_fetched_once_in_one_weight_format_and_pinned_to_its_commit(hub: FakeHub) -> None:
    files = fetch_model(hub_spec("org/model"))
    assert files.source == "hub" and files.revision == COMMIT
    assert files.load_from.endswith(f"snapshots/{COMMIT}")
    assert hub.calls == [
        {"repo_id": "org/model", "revision": None, "ignore_patterns": OTHER_WEIGHT_FORMATS + NEVER_NEEDED}
    ]
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # nothing more is fetched during the metered load


def test_a_repo_without_safetensors_gets_its_older_weights(hub: FakeHub) -> None:
    hub.weights = "pytorch_model.bin"
    files = fetch_model(hub_spec("org/old"))
    assert len(hub.calls) == 2 and hub.calls[1]["ignore_patterns"] == NEVER_NEEDED
    assert (Path(files.load_from) / "pytorch_model.bin").exists()


def test_a_pinned_revision_is_asked_for(hub: FakeHub) -> None:
    fetch_model(hub_spec("org/model@v1.2"))
    assert hub.calls[0]["repo_id"] == "org/model" and hub.calls[0]["revision"] == "v1.2"


def test_builtin_and_local_models_are_not_fetched(hub: FakeHub, tmp_path: Path) -> None:
    assert fetch_model(hub_spec("tiny-random:gpt2")).source == "builtin"
    local = fetch_model(hub_spec(str(tmp_path)))
    assert local.source == "local" and local.load_from == str(tmp_path) and local.revision is None
    assert hub.calls == []


@pytest.mark.parametrize("model", ["org/model@", "@main"])
def test_a_malformed_pin_is_named(hub: FakeHub, model: str) -> None:
    with pytest.raises(ValueError, match="org/name@<branch, tag or commit>"):
        fetch_model(hub_spec(model))


def test_an_unreachable_model_names_itself_and_the_fix(hub: FakeHub) -> None:
    hub.fail = OSError("We couldn't connect to 'https://huggingface.co'\nmore lines")
    with pytest.raises(ModelFetchError) as caught:
        fetch_model(hub_spec("meta-llama/Llama-3.1-8B@main"))
    message = str(caught.value)
    assert "meta-llama/Llama-3.1-8B at main" in message and "HF_TOKEN" in message
    assert "more lines" not in message


def test_a_whole_run_loads_the_fetched_snapshot_and_records_its_commit(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def snapshot_with_a_real_checkpoint(repo_id: str, **kwargs: Any) -> str:
        folder = Path(hub.snapshot_download(repo_id, **kwargs))
        save_tiny("tiny-random:gpt2", 0, folder)  # the real from_pretrained path loads this
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_with_a_real_checkpoint)
    run_dir = tmp_path / "t" / "e" / "c0"
    run_dir.mkdir(parents=True)
    result = run_experiment(hub_spec("org/tiny"), run_dir, results_root=tmp_path)
    assert result.model == "org/tiny"
    assert result.environment["model"]["revision"] == COMMIT
    assert result.environment["model"]["load_from"].endswith(COMMIT)
    assert result.metrics.output_tokens == 7 * 9


def test_a_run_whose_model_cannot_be_had_fails_before_measuring(hub: FakeHub, tmp_path: Path) -> None:
    hub.fail = OSError("offline")
    run_dir = tmp_path / "t" / "e" / "c0"
    run_dir.mkdir(parents=True)
    with pytest.raises(ModelFetchError, match="cannot fetch model org/gone"):
        run_experiment(hub_spec("org/gone"), run_dir, results_root=tmp_path)
    assert not (run_dir / "result.json").exists()
