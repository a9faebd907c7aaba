"""The docker executor against a fake python-on-whales client that behaves like compose:
``compose.run(stream=True)`` yields output until the container ends, then raises
DockerException with the exit code if it was not 0; removing the container ends the stream."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from orchestrator.executors.docker import TIMEOUT_EXIT_CODE, DockerRuntime
from orchestrator.executors.runtime import RunRequest

HOST = socket.gethostname()  # the machine's name reaches the container (its own is its ID)
STUB_ID = "sha256:" + "5" * 64
GPU_UUID = "GPU-0d5d1a3c-1f1e-4b8a-9c3d-2e4f5a6b7c8d"


class FakeCompose:
    def __init__(self, client: FakeClient):
        self.client = client
        self.config_calls = 0

    def config(self, return_json: bool = False) -> dict[str, Any]:
        """Like `docker compose --profile gpu config --format json`: every service's image."""
        self.config_calls += 1
        return {"services": {name: {"image": f"camp-{name}:latest"} for name in ("stub", "vllm")}}

    def run(self, service: str, command: list[str], **kwargs: Any) -> Iterator[tuple[str, bytes]]:
        self.client.calls.append({"service": service, "command": command, **kwargs})
        name = kwargs["name"]
        self.client.running[name] = threading.Event()
        return self.client.script(self.client, name)


class FakeContainers:
    def __init__(self, client: FakeClient):
        self.client = client

    def remove(self, name: str, force: bool = False, volumes: bool = False) -> None:
        self.client.removed.append(name)
        stopped = self.client.running.pop(name, None)
        if stopped is None:
            raise DockerException(["docker", "rm", name], 1, stderr=b"No such container")
        stopped.set()

    def list(self, all: bool = False, filters: dict[str, str] | None = None) -> list[Any]:
        self.client.list_filters.append(filters)
        return [SimpleNamespace(name=n) for n in self.client.leftovers]


class FakeImages:
    """`docker image inspect`: the images this engine holds, by reference."""

    def __init__(self) -> None:
        self.held: dict[str, Any] = {"camp-stub:latest": SimpleNamespace(id=STUB_ID, repo_digests=[])}

    def inspect(self, reference: str) -> Any:
        if reference not in self.held:
            raise DockerException(["docker", "image", "inspect", reference], 1, stderr=b"No such image")
        return self.held[reference]


class FakeClient:
    """Also its own factory: called with the run's compose env file, it records what is in it."""

    def __call__(self, compose_env: Path) -> FakeClient:
        if compose_env.name != "null":
            self.compose_envs.append(
                {
                    n: v.strip("'")
                    for n, v in (line.split("=", 1) for line in compose_env.read_text().splitlines())
                }
            )
        return self

    def __init__(self, script):
        self.compose_envs: list[dict[str, str]] = []
        self.list_filters: list[Any] = []
        self.script = script
        self.calls: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.running: dict[str, threading.Event] = {}
        self.leftovers: list[str] = []
        self.compose = FakeCompose(self)
        self.container = FakeContainers(self)
        self.image = FakeImages()


def exits_with(code: int, output: bytes = b"hello\n"):
    def script(client: FakeClient, name: str) -> Iterator[tuple[str, bytes]]:
        yield ("stdout", output)
        if code:
            yield ("stderr", b"boom\n")  # compose streams stderr, then raises with it again
        client.running.pop(name, None)
        if code:
            raise DockerException(["docker", "compose", "run"], code, stderr=b"boom\n")

    return script


def hangs(client: FakeClient, name: str) -> Iterator[tuple[str, bytes]]:
    yield ("stdout", b"loading...\n")
    assert client.running[name].wait(10), "container never stopped"
    raise DockerException(["docker", "compose", "run"], 137)


def request(tmp_path: Path, timeout_s: float = 5.0) -> RunRequest:
    spec = tmp_path / "camp-x" / "abc123" / "c2" / "spec.json"
    spec.parent.mkdir(parents=True)
    spec.write_text("{}")
    return RunRequest(
        "camp-x", "abc123", 2, "stub", tmp_path, spec, timeout_s, gpus=(GPU_UUID,), owner="0123456789ab"
    )


def test_dispatch_is_compose_run_rm_named_labelled_as_the_user(tmp_path: Path) -> None:
    client = FakeClient(exits_with(0))
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert (outcome.exit_code, outcome.output, outcome.timed_out) == (0, "hello\n", False)
    call = client.calls[0]
    assert call["service"] == "stub"
    assert call["command"] == ["camp-harness", "run", "/results/camp-x/abc123/c2/spec.json"]
    assert call["name"] == "camp-camp-x-0123456789ab-abc123-c2"
    assert call["labels"]["camp.campaign"] == "camp-x"
    assert call["labels"]["camp.owner"] == "0123456789ab"
    assert call["remove"] and not call["tty"] and not call["dependencies"] and call["stream"]
    assert call["user"].count(":") == 1
    env = client.compose_envs[0]
    assert env["CAMP_GPU_IDS"] == GPU_UUID
    assert env["CAMP_RESULTS_DIR"] == str(tmp_path.resolve())


def test_non_zero_exit_code_and_stderr_are_returned(tmp_path: Path) -> None:
    client = FakeClient(exits_with(3))
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert outcome.exit_code == 3
    assert outcome.output.count("boom") == 1


def test_timeout_kills_the_container_by_name(tmp_path: Path) -> None:
    client = FakeClient(hangs)
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path, timeout_s=0.2))
    assert outcome.timed_out and outcome.exit_code == TIMEOUT_EXIT_CODE
    assert (
        client.removed.count("camp-camp-x-0123456789ab-abc123-c2") == 2
    )  # once before starting (stale), once to kill
    assert "loading" in outcome.output


def test_stop_kills_a_running_container_and_execute_returns(tmp_path: Path) -> None:
    client = FakeClient(hangs)
    executor = DockerRuntime(tmp_path / "compose.yaml", client)
    run = request(tmp_path, timeout_s=60)
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(executor.execute(run)))
    worker.start()
    while run.container_name not in client.running:
        threading.Event().wait(0.01)
    executor.stop(run)
    worker.join(10)
    assert outcomes and outcomes[0].exit_code == 137 and not outcomes[0].timed_out


def test_cleanup_removes_leftovers_of_the_campaign(tmp_path: Path) -> None:
    client = FakeClient(exits_with(0))
    client.leftovers = ["camp-old-c0"]
    client.running["camp-old-c0"] = threading.Event()
    assert DockerRuntime(tmp_path / "compose.yaml", client).cleanup("0123456789ab") == ["camp-old-c0"]
    assert client.removed == ["camp-old-c0"]
    assert client.list_filters == [{"label": "camp.owner=0123456789ab"}]  # never by campaign name


def test_secrets_go_through_a_private_file_that_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat

    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    seen: dict[str, Any] = {}

    def script(client: FakeClient, name: str) -> Iterator[tuple[str, bytes]]:
        path = Path(client.compose_envs[-1]["CAMP_SECRETS_FILE"])
        seen["mode"] = stat.S_IMODE(path.stat().st_mode)
        seen["dir_mode"] = stat.S_IMODE(path.parent.stat().st_mode)
        seen["content"] = path.read_text()
        seen["path"] = path
        yield ("stdout", b"token is hf_secret_value_123\n")
        client.running.pop(name, None)

    client = FakeClient(script)
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert json.loads(seen["content"]) == {"HF_TOKEN": "hf_secret_value_123"}
    assert seen["path"].parent.name.startswith(f"camp-run-{os.getpid()}-")  # sweepable once camp is gone
    assert not seen["path"].exists()
    assert "hf_secret_value_123" not in outcome.output and "<HF_TOKEN redacted>" in outcome.output
    assert "hf_secret_value_123" not in str(client.calls)  # never on the command line


def test_prepare_accepts_an_image_with_this_checkouts_contract(tmp_path: Path, monkeypatch) -> None:
    from camp_contract.fingerprint import contract_fingerprint

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    client = FakeClient(exits_with(0))
    client.compose.run = lambda service, command, **kw: (
        client.calls.append({"service": service, "command": command})
        or f"{contract_fingerprint(command[-1])}\n"  # what its image agrees on: its backend's spec
    )
    DockerRuntime(tmp_path / "compose.yaml", client).prepare({"stub", "vllm"})
    assert [c["command"] for c in client.calls] == [
        ["camp-harness", "contract", "--backend", "stub"],
        ["camp-harness", "contract", "--backend", "vllm"],
    ]
    assert [c["service"] for c in client.calls] == ["stub", "vllm"]
    assert (tmp_path / "hf").is_dir()  # created as the user before Docker could create it as root


def test_prepare_refuses_an_image_built_from_other_code(tmp_path: Path, monkeypatch) -> None:
    from orchestrator.executors.runtime import ExecutorUnavailable

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    client = FakeClient(exits_with(0))
    client.compose.run = lambda service, command, **kw: "0123456789abcdef\n"
    with pytest.raises(
        ExecutorUnavailable,
        match=r"built from other camp code.*rebuild it: `make images IMAGES=vllm`",
    ):
        DockerRuntime(tmp_path / "compose.yaml", client).prepare({"vllm"})

    def missing(service, command, **kw):
        raise DockerException(["docker", "compose", "run"], 1, stderr=b"pull access denied for camp-stub")

    client.compose.run = missing
    with pytest.raises(ExecutorUnavailable, match=r"cannot run camp-harness .*build it: `make provision`"):
        DockerRuntime(tmp_path / "compose.yaml", client).prepare({"stub"})


def test_each_run_is_told_the_id_of_the_image_it_starts_from(tmp_path: Path) -> None:
    client = FakeClient(exits_with(0))
    executor = DockerRuntime(tmp_path / "compose.yaml", client)
    executor.execute(request(tmp_path))
    assert client.calls[0]["envs"] == {"CAMP_HOST": HOST, "CAMP_IMAGE_ID": STUB_ID}  # built here: no digest
    # rebuilt between two runs, and pushed to a registry: the next run says so
    pushed = "registry.example/camp-stub@sha256:" + "6" * 64
    client.image.held["camp-stub:latest"] = SimpleNamespace(id="sha256:" + "7" * 64, repo_digests=[pushed])
    executor.execute(request(tmp_path / "again"))
    assert client.calls[1]["envs"] == {
        "CAMP_HOST": HOST,
        "CAMP_IMAGE_ID": "sha256:" + "7" * 64,
        "CAMP_IMAGE_DIGEST": pushed,
    }
    assert client.compose.config_calls == 1  # which image a service uses is read once


def test_an_image_that_cannot_be_inspected_still_runs_and_records_no_id(tmp_path: Path) -> None:
    client = FakeClient(exits_with(0))
    client.image.held.clear()
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert outcome.exit_code == 0 and client.calls[0]["envs"] == {"CAMP_HOST": HOST}


def test_a_compose_config_that_cannot_be_read_still_runs(tmp_path: Path) -> None:
    client = FakeClient(exits_with(0))

    def unreadable(return_json: bool = False) -> dict[str, Any]:
        raise DockerException(["docker", "compose", "config"], 15, stderr=b"invalid compose project")

    client.compose.config = unreadable
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert outcome.exit_code == 0 and client.calls[0]["envs"] == {"CAMP_HOST": HOST}


def test_the_compose_client_sees_the_gpu_services(tmp_path: Path) -> None:
    executor = DockerRuntime(tmp_path / "compose.yaml")
    assert executor.client.client_config.compose_profiles == ["gpu"]


def test_a_leases_variables_reach_the_container_and_a_lease_elsewhere_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    client = FakeClient(exits_with(0))
    runtime = DockerRuntime(tmp_path / "compose.yaml", client)
    runtime.execute(replace(request(tmp_path), env={"CAMP_LEASE": "a"}))
    assert client.calls[0]["envs"] == {"CAMP_HOST": HOST, "CAMP_LEASE": "a", "CAMP_IMAGE_ID": STUB_ID}
    elsewhere = replace(request(tmp_path / "b"), launcher=("srun", "--jobid=7"))
    outcome = runtime.execute(elsewhere)
    assert outcome.exit_code is None and "starts containers here only, not via srun" in (outcome.error or "")
    assert len(client.calls) == 1  # nothing was started


HOSTILE = ["a\nEVIL=1", "a\rb", "it's", 'say "hi"', "$HOME", "${HF_TOKEN}", "a=b", "back\\slash", "nul\x00"]


@pytest.mark.parametrize("gpu", ["0\nCAMP_UID=0", "0,1", "GPU-1", "all", "", "MIG-x", "0 ", *HOSTILE])
def test_a_gpu_id_that_is_not_one_is_refused_and_nothing_starts(tmp_path: Path, gpu: str) -> None:
    client = FakeClient(exits_with(0))
    run = request(tmp_path)
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(
        RunRequest(run.campaign, run.exp_id, run.cycle, "stub", tmp_path, run.spec_path, 5, gpus=(gpu,))
    )
    assert outcome.exit_code is None and "is not a GPU id" in (outcome.error or "")
    assert client.calls == [] and client.compose_envs == []


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_results_path_no_env_file_can_hold_is_refused_not_written(tmp_path: Path, hostile: str) -> None:
    """Every value written to an env file is one single-quoted line, or refused."""
    client = FakeClient(exits_with(0))
    name = hostile.replace("\x00", "0")  # a path cannot hold NUL at all
    root = tmp_path / name
    run = request(tmp_path)
    outcome = DockerRuntime(tmp_path / "compose.yaml", client).execute(
        RunRequest(run.campaign, run.exp_id, run.cycle, "stub", root, run.spec_path, 5)
    )
    safe = "'" not in name and "\\" not in name and name.isprintable()
    if safe:  # `$`, `=`, `"` are literal inside single quotes: written, and as one variable
        assert client.compose_envs[0]["CAMP_RESULTS_DIR"] == str(root.resolve())
    else:
        assert client.calls == [] and "env file cannot hold" in (outcome.error or "")


def test_the_engine_check_times_out_on_a_daemon_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unix socket that accepts connections and never replies, as DOCKER_HOST."""
    import shutil
    import socket

    from orchestrator.executors.docker import engine_answers

    if shutil.which("docker") is None:  # the client is what connects; fake one that hangs likewise
        fake = tmp_path / "bin" / "docker"
        fake.parent.mkdir()
        fake.write_text(
            '#!/bin/sh\nexec python3 -c "import socket,os;s=socket.socket(socket.AF_UNIX);'
            "s.connect(os.environ['DOCKER_HOST'][7:]);s.recv(1)\"\n"
        )
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    path = tmp_path / "d.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(8)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        problem = engine_answers(timeout_s=1.0)
    finally:
        server.close()
    assert problem is not None and "did not answer" in problem and "within 1s" in problem


def test_an_engine_call_that_never_returns_is_an_error_not_a_hang() -> None:
    from orchestrator.executors.docker import EngineTimeout, bounded

    never = threading.Event()
    with pytest.raises(EngineTimeout, match=r"did not answer `docker rm` within 0\.1s"):
        bounded(lambda: never.wait(30), "docker rm", timeout_s=0.1)


def test_an_engine_gone_mid_campaign_is_executor_unavailable_not_a_failed_run(tmp_path: Path) -> None:
    from orchestrator.executors.runtime import ExecutorUnavailable

    client = FakeClient(exits_with(0))

    def gone(name: str, force: bool = False, volumes: bool = False) -> None:
        raise DockerException(
            ["docker", "rm"],
            1,
            stderr=b"Cannot connect to the Docker daemon at unix:///x. Is the docker daemon running?",
        )

    client.container.remove = gone  # type: ignore[method-assign]
    with pytest.raises(ExecutorUnavailable, match="stopped answering"):
        DockerRuntime(tmp_path / "compose.yaml", client).execute(request(tmp_path))
    assert client.calls == []


def test_per_run_files_of_a_camp_that_died_are_swept_with_their_secrets(tmp_path: Path) -> None:
    import subprocess
    import sys

    from orchestrator.secrets import sweep_stale

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"camp-run-{dead_pid}-abc"
    stale.mkdir(mode=0o700)
    (stale / "secrets.json").write_text('{"HF_TOKEN": "hf_x"}')
    alive = tmp_path / f"camp-run-{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "camp-runner-notes"
    other.mkdir()
    assert sweep_stale(tmp_path) == [stale]
    assert not stale.exists() and alive.exists() and other.exists()
