"""Hostile values in every field that reaches a command line or an env file: GPU ids are refused
at the campaign's door unless they are GPU ids; model names, params, labels and paths travel in
spec.json (JSON) and never add a line, a variable or an argument to what the engine is given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.campaign import parse_campaign
from orchestrator.config_errors import ConfigError
from orchestrator.executors.docker import DockerRuntime
from orchestrator.runner import CampaignRunner
from tests.orchestrator.test_docker_executor import FakeClient

UUID = "GPU-0d5d1a3c-1f1e-4b8a-9c3d-2e4f5a6b7c8d"
HOSTILE = [
    "a\nCAMP_UID=0",
    "x'y",
    '"q"',
    "$HF_TOKEN",
    "${CAMP_GPU_IDS}",
    "k=v",
    "a b; rm -rf /",
    "--privileged",
]


@pytest.mark.parametrize("gpu", ["0", "12", UUID, "MIG-" + UUID[4:], f"MIG-{UUID}/1/0"])
def test_gpu_indices_uuids_and_mig_ids_are_accepted(gpu: str) -> None:
    campaign = parse_campaign(
        f"name: t\nmodels: [m]\nbackends: {{stub: {{}}}}\ngpus: [{json.dumps(gpu)}]\n", Path("c.yaml")
    )
    assert campaign.gpus == [gpu]


@pytest.mark.parametrize("gpu", [*HOSTILE, "0,1", "all", "GPU-1", "-1", "0.5", ""])
def test_anything_else_as_a_gpu_id_is_a_bad_campaign_naming_the_field(gpu: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_campaign(
            f"name: t\nmodels: [m]\nbackends: {{stub: {{}}}}\ngpus: [{json.dumps(gpu)}]\n", Path("c.yaml")
        )
    assert "gpus" in str(caught.value) and "is not a GPU id" in str(caught.value)


def test_hostile_models_params_and_paths_never_reach_an_env_file_or_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_" + "s3cr3t" * 4)
    models = [json.dumps(m) for m in HOSTILE]
    text = (
        "name: t\n"
        f"models: [{', '.join(models)}]\n"
        "backends: {stub: {}}\n"
        "cycles: 1\nretries: 0\nmax_consecutive_failures: 100\n"
        f"gpus: [0, {json.dumps(UUID)}]\n"
    )
    campaign = parse_campaign(text, Path("c.yaml"))
    env_files: list[str] = []

    def harness(client: FakeClient, name: str) -> Iterator[tuple[str, bytes]]:
        yield ("stdout", b"ran\n")
        client.running.pop(name, None)

    class RecordingClient(FakeClient):
        def __call__(self, compose_env: Path) -> FakeClient:
            if compose_env.name != "null":
                env_files.append(compose_env.read_text())
            return self

    client = RecordingClient(harness)
    runtime = DockerRuntime(tmp_path / "compose.yaml", client)
    runtime.prepare = lambda backends: None  # type: ignore[method-assign]  # the image is not the point
    CampaignRunner(campaign, tmp_path / "results root $x", runtime, lambda _: None).run()
    assert len(env_files) == len(HOSTILE)
    for text in env_files:
        lines = text.splitlines()
        assert [line.split("=", 1)[0] for line in lines] == [
            "CAMP_RESULTS_DIR",
            "CAMP_UID",
            "CAMP_GID",
            "CAMP_GPU_IDS",
            "CAMP_SECRETS_FILE",
        ]
        assert all(line.count("'") == 2 and line.endswith("'") for line in lines)
        assert "s3cr3t" not in text
    seen: list[Any] = [call["command"] for call in client.calls] + [call["envs"] for call in client.calls]
    for model in HOSTILE:
        assert model not in json.dumps(seen)
    assert "s3cr3t" not in json.dumps(client.calls, default=str)
