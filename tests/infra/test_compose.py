"""compose.yaml, the images and provisioning, checked against the real Docker engine and Compose v2:
the settings every service must share, a real `docker compose run --rm stub` as a non-root user
writing into the results bind mount, and a provisioning re-run that does nothing."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

REPO = Path(__file__).resolve().parents[2]
GPU_SERVICES = ("pytorch", "vllm", "tensorrt")
# Not a user of this machine: the container must work for any uid:gid the orchestrator passes.
UID, GID = 54321, 54322

pytestmark = pytest.mark.docker


def compose(**kwargs: Any) -> DockerClient:
    return DockerClient(compose_files=[REPO / "compose.yaml"], compose_project_directory=REPO, **kwargs)


@pytest.fixture
def run_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results dir and HF cache of this test's own, and the invoking user camp would pass."""
    results, hf_cache = tmp_path / "results", tmp_path / "hf"
    for directory in (results, hf_cache):
        directory.mkdir()
        directory.chmod(0o777)  # the test runs as root in CI; the container user is UID
    monkeypatch.setenv("CAMP_RESULTS_DIR", str(results))
    monkeypatch.setenv("HF_HOME", str(hf_cache))
    monkeypatch.setenv("CAMP_UID", str(UID))
    monkeypatch.setenv("CAMP_GID", str(GID))
    return results


def test_every_service_shares_the_harness_settings_and_gpu_services_reserve_gpus(run_env: Path) -> None:
    services = compose(compose_profiles=["gpu"]).compose.config(return_json=True)["services"]
    assert set(services) == {"stub", *GPU_SERVICES}
    for name, service in services.items():
        assert service["image"] == f"camp-{name}:latest"
        assert service["build"]["dockerfile"] == f"containers/{name}/Dockerfile"
        assert "BASE_IMAGE" in service["build"]["args"]
        assert "CAMP_SOURCE_REVISION" in service["build"]["args"]  # `make images` sets it
        assert service["init"] is True
        assert service["user"] == f"{UID}:{GID}"
        assert service["environment"]["HOME"] == "/tmp" and service["environment"]["HF_HOME"] == "/hf-cache"
        mounts = {volume["target"]: volume["source"] for volume in service["volumes"]}
        assert mounts["/results"] == str(run_env)
        assert mounts["/hf-cache"] == str(run_env.parent / "hf")
    for name in GPU_SERVICES:
        service = services[name]
        assert service["profiles"] == ["gpu"]
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
        assert service["ipc"] == "host"
    assert "profiles" not in services["stub"] and "deploy" not in services["stub"]
    assert services["tensorrt"]["ulimits"] == {"memlock": -1, "stack": 67108864}
    assert services["vllm"]["entrypoint"] == []  # not the OpenAI server the image starts by default


def test_gpu_services_stay_out_of_a_plain_compose_call() -> None:
    assert set(compose().compose.config(return_json=True)["services"]) == {"stub"}


def test_stub_runs_the_harness_as_the_invoking_user_and_writes_into_the_results_mount(
    run_env: Path,
) -> None:
    script = (
        "import os, pathlib, camp_contract.models; "
        "pathlib.Path('/results/probe.txt').write_text(f'{os.getuid()}:{os.getgid()} {os.environ[\"HOME\"]}')"
    )
    stub = compose()
    help_text = stub.compose.run("stub", ["camp-harness", "--help"], remove=True, tty=False)
    assert "run" in str(help_text).split("Commands:")[1]
    stub.compose.run("stub", ["python", "-c", script], remove=True, tty=False)
    probe = run_env / "probe.txt"
    assert probe.read_text() == f"{UID}:{GID} /tmp"
    assert (probe.stat().st_uid, probe.stat().st_gid) == (UID, GID)


def test_the_build_context_holds_only_what_the_images_install(tmp_path: Path) -> None:
    """.dockerignore keeps .venv, results/, .git and caches out: builds stay fast and leak nothing."""
    probe, tag = tmp_path / "Dockerfile", f"camp-context-probe:{uuid.uuid4().hex[:8]}"
    probe.write_text("FROM camp-stub:latest\nCOPY . /context\n")
    subprocess.run(
        ["docker", "build", "-q", "-f", str(probe), "-t", tag, str(REPO)], check=True, capture_output=True
    )
    try:
        listing = subprocess.run(
            ["docker", "run", "--rm", tag, "find", "/context", "-maxdepth", "2"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    top = {Path(path).relative_to("/context").parts[0] for path in listing if path != "/context"}
    assert top == {"README.md", "containers", "orchestrator", "pyproject.toml"}
    assert {"/context/containers/harness", "/context/containers/camp_contract"} <= set(listing)
    assert not any("__pycache__" in path for path in listing)


def test_provisioning_again_is_a_silent_no_op() -> None:
    """Run twice: the first may rebuild the stub if the code changed since; the second must not."""
    script = ["bash", str(REPO / "scripts" / "provision-docker.sh")]
    subprocess.run(script, check=True, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    again = subprocess.run(script, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    assert again.stdout + again.stderr == ""
