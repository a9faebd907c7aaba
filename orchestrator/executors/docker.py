"""The docker runtime: each run in a fresh ``docker compose run --rm <backend>`` container.

The container is named ``camp-<campaign>-<owner>-<exp_id>-c<cycle>`` and labelled with its
campaign and its owner (a hash of the campaign's resolved results directory), so a timeout or
Ctrl-C can kill it by name (killing the compose client alone leaves the container running) and
the next ``camp run`` of that results directory — which holds its lock, so no live camp owns
them — removes what a killed predecessor left behind, never the containers of a same-named
campaign with other results. Every call to the engine is bounded in time (``ENGINE_TIMEOUT_S``):
an engine that accepts connections but never answers is an error, not a hang. Each run is told
the ID (and registry digest) of the image it starts from, which only the host can know, so its
result records exactly what measured it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Collection
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from camp_contract import layout
from camp_contract.backends import backend_entry, entry_for_service
from camp_contract.fingerprint import contract_fingerprint
from camp_contract.image_variables import HOST_VARIABLE, IMAGE_DIGEST_VARIABLE, IMAGE_ID_VARIABLE
from camp_contract.models import BackendName
from orchestrator.executors.compose_files import compose_files
from orchestrator.executors.runtime import ExecOutcome, ExecutorUnavailable, RunRequest
from orchestrator.gpu_ids import gpu_id_problem
from orchestrator.secrets import UnsafeValue, owned_prefix, redact, run_env_files, sweep_stale

if TYPE_CHECKING:
    from orchestrator.executors.registry import RuntimeSetup

CONTAINER_RESULTS = PurePosixPath("/results")
LABEL_CAMPAIGN = "camp.campaign"
LABEL_OWNER = "camp.owner"  # the hash of the campaign's results directory (RunRequest.owner)
ENGINE_TIMEOUT_S = 60.0  # any one engine call (inspect, remove, list, compose config)
PREPARE_TIMEOUT_S = 300.0  # `camp-harness contract` in a fresh container
_ENGINE_GONE = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")
COMPOSE_PROFILES = ["gpu"]  # so that the compose config lists the GPU services as well
STOP_GRACE_S = 30.0
TIMEOUT_EXIT_CODE = 124  # as coreutils `timeout` reports it


def build_command(service: str) -> str:
    """How to (re)build a service's image so that it knows the camp revision it holds: the GPU
    images with `make images`, the others (the stub's) by provisioning."""
    entry = entry_for_service(service)
    return "make provision" if entry is not None and not entry.needs_gpu else f"make images IMAGES={service}"


def service_of(backend: BackendName) -> str:
    """The compose service that runs ``backend`` (its registry entry says)."""
    return backend_entry(backend).compose_service


class EngineTimeout(ExecutorUnavailable):
    """The Docker engine took a connection but gave no answer in time."""


def bounded(call: Callable[[], Any], what: str, timeout_s: float = ENGINE_TIMEOUT_S) -> Any:
    """``call()``, or EngineTimeout when the engine has not answered ``what`` within ``timeout_s``
    (python-on-whales has no timeout of its own; the stuck client thread is left to die with camp)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    worker = threading.Thread(target=target, name=f"docker-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise EngineTimeout(
            f"the Docker engine did not answer `{what}` within {timeout_s:g}s (is the daemon hung? "
            "check `docker info`); every finished run is kept — `camp run` again once it answers"
        )
    if "error" in box:
        raise box["error"]
    return box.get("value")


def engine_gone(err: DockerException) -> bool:
    """Did the docker client fail because no engine answers (not because of the container)?"""
    text = f"{err.stderr or ''} {err.stdout or ''}".lower()
    return any(sign in text for sign in _ENGINE_GONE)


def engine_answers(timeout_s: float = ENGINE_TIMEOUT_S / 4) -> str | None:
    """None when a Docker engine and Compose v2 answer (within ``timeout_s`` each); else the reason
    they do not. The docker client is killed at the timeout, so a hung daemon never hangs camp."""
    checks = (
        (["docker", "info", "--format", "{{.ServerVersion}}"], "no Docker engine answers"),
        (["docker", "compose", "version"], "Docker Compose v2 (`docker compose`) is not installed"),
    )
    for command, problem in checks:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return (
                f"the Docker engine did not answer `{' '.join(command[:2])}` within {timeout_s:g}s "
                "(it accepts connections but never replies: restart the daemon, or check DOCKER_HOST)"
            )
        except OSError as err:
            return f"{problem} ({err.strerror or err})"
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            return f"{problem} ({detail})"
    return None


def unavailable(setup: RuntimeSetup) -> str | None:
    """The registry's hook: why compose cannot run here (no engine, no Compose v2, no compose
    file), or None."""
    problem = engine_answers()
    if problem is None and not setup.compose_file.is_file():
        problem = f"no compose file at {setup.compose_file}"
    return problem


def make_runtime(setup: RuntimeSetup) -> DockerRuntime:
    """The registry's hook: the runtime for the compose file camp was given. A killed camp's
    per-run files (which may hold HF_TOKEN) are removed first."""
    sweep_stale()
    return DockerRuntime(setup.compose_file)


ClientFactory = Callable[[Path], Any]


class DockerRuntime:
    name = "docker"

    def __init__(self, compose_file: Path, client_factory: ClientFactory | None = None):
        self.compose_file = compose_file
        self._files: list[Path] | None = None  # compose.yaml (+ compose.cpu.yaml with no NVIDIA runtime)
        self._files_lock = threading.Lock()
        self.client_factory: ClientFactory = client_factory or self._client
        self.client: Any = self.client_factory(Path(os.devnull))  # for container housekeeping
        self._images: dict[str, str | None] | None = None  # service → image reference, from compose
        self._images_lock = threading.Lock()

    def compose_files(self) -> list[Path]:
        """The compose files every ``docker compose`` of this runtime reads (``compose_files``),
        decided once, from the engine's ``docker info``."""
        with self._files_lock:
            if self._files is None:
                self._files = compose_files(
                    self.compose_file, lambda: bounded(lambda: DockerClient().info(), "docker info")
                )
            return self._files

    def _client(self, compose_env: Path) -> DockerClient:
        return DockerClient(
            compose_files=list[str | Path](self.compose_files()),
            compose_project_directory=self.compose_file.parent,
            compose_env_files=[compose_env],
            compose_profiles=COMPOSE_PROFILES,
        )

    @staticmethod
    def _variables(results_root: Path, gpus: tuple[str, ...] = ()) -> dict[str, str]:
        """The compose interpolation variables; UnsafeValue for a GPU id that is not one."""
        for gpu in gpus:
            problem = gpu_id_problem(gpu)
            if problem is not None:
                raise UnsafeValue(problem)
        return {
            "CAMP_RESULTS_DIR": str(results_root.resolve()),
            "CAMP_UID": str(os.getuid()),
            "CAMP_GID": str(os.getgid()),
            "CAMP_GPU_IDS": ",".join(gpus) or "all",
        }

    def execute(self, request: RunRequest) -> ExecOutcome:
        if request.launcher:  # a lease on another machine: this engine cannot start it there
            reason = f"the docker runtime starts containers here only, not via {request.launcher[0]}"
            return ExecOutcome(None, "", error=reason)
        # the machine's name (a container's own hostname is its ID), then the lease's, then the image's
        container_env = {
            HOST_VARIABLE: socket.gethostname(),
            **request.env,
            **self.image_facts(request.backend),
        }
        try:
            variables = self._variables(request.results_root, request.gpus)
            with run_env_files(variables) as files:
                return self._execute(request, self.client_factory(files.compose_env), container_env)
        except UnsafeValue as err:
            return ExecOutcome(None, "", error=f"refused to start: {err}")

    def image_facts(self, backend: BackendName) -> dict[str, str]:
        """The ID (``sha256:…``) and, where it came from a registry, the digest of the image a run
        of ``backend`` starts from, as variables for the container; {} when it cannot be
        inspected (the result then records none). Asked just before each run, so a rebuild
        between runs is seen."""
        try:
            reference = self._image_reference(backend)
            if reference is None:
                return {}
            image = bounded(lambda: self.client.image.inspect(reference), "docker image inspect")
        except Exception:  # no such image, compose config unreadable: a run never fails for this
            return {}
        facts = {IMAGE_ID_VARIABLE: str(image.id)}
        if image.repo_digests:
            facts[IMAGE_DIGEST_VARIABLE] = str(image.repo_digests[0])
        return facts

    def _image_reference(self, backend: BackendName) -> str | None:
        with self._images_lock:
            if self._images is None:
                config = bounded(
                    lambda: self.client.compose.config(return_json=True), "docker compose config"
                )
                services = config["services"]
                self._images = {name: service.get("image") for name, service in services.items()}
        return self._images.get(service_of(backend))

    def prepare(self, backends: Collection[BackendName]) -> None:
        """Each backend's image must speak this checkout's contract (same schemas), or every run
        would fail on an invalid spec or result; and the Hugging Face cache must exist before
        Docker bind-mounts it (else Docker creates it, owned by root)."""
        hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
        hf_home.mkdir(parents=True, exist_ok=True)
        for backend in sorted(backends):
            service = service_of(backend)
            build = build_command(service)
            expected = contract_fingerprint(backend)
            with (
                tempfile.TemporaryDirectory(prefix=owned_prefix()) as scratch,
                run_env_files(self._variables(Path(scratch))) as files,
            ):
                client = self.client_factory(files.compose_env)
                try:
                    output = bounded(
                        lambda client=client, backend=backend, service=service: client.compose.run(  # type: ignore[misc]
                            service,
                            ["camp-harness", "contract", "--backend", backend],
                            remove=True,
                            tty=False,
                            dependencies=False,
                            user=f"{os.getuid()}:{os.getgid()}",
                        ),
                        f"docker compose run {backend} camp-harness contract",
                        PREPARE_TIMEOUT_S,
                    )
                except DockerException as err:
                    reason = (str(err.stderr or "").strip().splitlines() or ["no output"])[-1]
                    raise ExecutorUnavailable(
                        f"the {backend} image cannot run camp-harness ({reason}); build it: `{build}`"
                    ) from None
            found = str(output).strip().splitlines()[-1] if str(output).strip() else "nothing"
            if found != expected:
                raise ExecutorUnavailable(
                    f"the {backend} image was built from other camp code (its contract {found}, this "
                    f"checkout's {expected}); rebuild it: `{build}`"
                )

    def stop(self, request: RunRequest) -> None:
        with contextlib.suppress(ExecutorUnavailable):  # stopping is best effort; the caller goes on
            self._remove(request.container_name)

    def _execute(self, request: RunRequest, client: Any, container_env: dict[str, str]) -> ExecOutcome:
        self._remove(request.container_name)  # ExecutorUnavailable: the engine is gone; the run never started
        spec_in_container = layout.run_files(
            CONTAINER_RESULTS, request.campaign, request.exp_id, request.cycle
        ).spec
        chunks: list[str] = []
        status: dict[str, Any] = {}

        def follow() -> None:
            try:
                stream = client.compose.run(
                    service_of(request.backend),
                    ["camp-harness", "run", str(spec_in_container)],
                    name=request.container_name,
                    labels={
                        LABEL_CAMPAIGN: request.campaign,
                        LABEL_OWNER: request.owner,
                        "camp.exp_id": request.exp_id,
                        "camp.cycle": str(request.cycle),
                    },
                    user=f"{os.getuid()}:{os.getgid()}",
                    envs=container_env,
                    dependencies=False,
                    tty=False,
                    remove=True,
                    stream=True,
                )
                for _source, chunk in stream:
                    chunks.append(chunk.decode(errors="replace"))
                status["exit_code"] = 0
            except DockerException as err:  # its stderr was already streamed into chunks
                status["exit_code"] = err.return_code
            except Exception as err:  # the compose client could not even start
                status["error"] = f"docker compose run failed to start: {err}"

        worker = threading.Thread(target=follow, name=f"compose-{request.container_name}", daemon=True)
        worker.start()
        worker.join(request.timeout_s)
        timed_out = worker.is_alive()
        if timed_out:
            self.stop(request)
            worker.join(STOP_GRACE_S)
        output = redact("".join(chunks))
        if timed_out:
            return ExecOutcome(TIMEOUT_EXIT_CODE, output, timed_out=True)
        return ExecOutcome(status.get("exit_code"), output, error=status.get("error"))

    def _remove(self, name: str) -> None:
        """Stop and remove a container by name, whatever state its compose client is in;
        ExecutorUnavailable when the engine does not answer."""
        try:
            bounded(lambda: self.client.container.remove(name, force=True, volumes=True), "docker rm")
        except DockerException as err:  # no such container: nothing to stop
            if engine_gone(err):
                said = (str(err.stderr or "").strip().splitlines() or [""])[-1]
                raise ExecutorUnavailable(
                    f"the Docker engine stopped answering ({said}); "
                    "every finished run is kept — `camp run` again once it is back"
                ) from None

    def cleanup(self, owner: str) -> list[str]:
        """Remove the containers labelled with ``owner`` (the campaign's results directory, whose
        lock the caller holds: no live camp owns them); never another campaign's."""
        try:
            leftovers = bounded(
                lambda: self.client.container.list(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}),
                "docker ps",
            )
        except DockerException:
            return []
        names = [c.name for c in leftovers]
        for name in names:
            self._remove(name)
        return names
