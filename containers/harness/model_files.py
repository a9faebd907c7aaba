"""The model's files: fetched before anything is metered, and pinned to one Hub commit.

A Hub model downloaded inside ``load()`` would put the download into the first cycle's load
time and energy, and a model named without a revision could change under a 30-hour campaign.
So before the idle baseline the harness fetches the snapshot into the mounted HF cache
(``huggingface_hub.snapshot_download``; a cache hit costs nothing), records the commit it
resolved to, and hands the backend that snapshot's local directory, with the Hub switched off
for the rest of the run. ``org/name@<revision>`` in a campaign pins a branch, tag or commit.

Only one weight format is fetched: safetensors, or the older formats where a repo has none
(vLLM does the same); ``original/`` (Meta's consolidated checkpoints) is never needed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from camp_contract.backends import backend_entry
from camp_contract.model_ref import looks_like_path, split_revision
from camp_contract.models import RunSpec
from harness.backends.tiny_model import is_tiny

# Weight formats left out when the repo has safetensors, and folders no loader reads.
OTHER_WEIGHT_FORMATS = ["*.bin", "*.pt", "*.pth", "*.ckpt", "*.msgpack", "*.h5", "*.onnx", "*.gguf"]
NEVER_NEEDED = ["original/*"]


class ModelFetchError(RuntimeError):
    """The model cannot be had; the message names the model and what to do."""


@dataclass(frozen=True)
class ModelFiles:
    requested: str  # as the campaign names it
    load_from: str  # what the backend is given: a snapshot directory, a local path, or the name
    source: Literal["hub", "local", "builtin"]
    revision: str | None = None  # the Hub commit the files are from

    def as_environment(self) -> dict[str, Any]:
        return asdict(self)


def fetch_model(spec: RunSpec) -> ModelFiles:
    """The files ``spec`` loads, fetched now (see the module docstring); none for a backend
    whose model name is only a label (its entry's ``loads_model``) or a built-in tiny model."""
    if not backend_entry(spec.backend).loads_model or is_tiny(spec.model):
        return ModelFiles(spec.model, spec.model, "builtin")
    if looks_like_path(spec.model):
        return ModelFiles(spec.model, spec.model, "local")
    repo_id, revision = split_revision(spec.model)
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, revision=revision, ignore_patterns=OTHER_WEIGHT_FORMATS + NEVER_NEEDED
        )
        if not any(Path(folder).rglob("*.safetensors")):
            folder = snapshot_download(repo_id, revision=revision, ignore_patterns=NEVER_NEEDED)
    except Exception as err:  # offline and not cached, no such repo or revision, gated without a token
        raise ModelFetchError(
            f"cannot fetch model {repo_id} at {revision or 'its default branch'}: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''} "
            "(gated models need HF_TOKEN; an offline machine needs the model in its HF cache)"
        ) from err
    # The rest of the run reads only this folder; processes a backend starts inherit this.
    os.environ["HF_HUB_OFFLINE"] = "1"
    return ModelFiles(spec.model, str(folder), "hub", Path(folder).name)  # snapshots/<commit>
