"""The docker runtime: each run in a fresh ``docker compose run --rm <backend>`` container.

The container is named ``camp-<exp_id>-c<cycle>`` and labelled with its campaign, so a timeout
or Ctrl-C can kill it by name (killing the compose client alone leaves the container running)
and the next ``camp run`` can remove anything a killed predecessor left behind. Each run is told
the ID (and registry digest) of the image it starts from, which only the host can know, so its
result records exactly what measured it.
"""

from __future__ import annotations

import contextlib
import os
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
from camp_contract.image_variables import IMAGE_DIGEST_VARIABLE, IMAGE_ID_VARIABLE
from camp_contract.models import BackendName
from orchestrator.executors.runtime import ExecOutcome, ExecutorUnavailable, RunRequest
from orchestrator.secrets import redact, run_env_files

if TYPE_CHECKING:
    from orchestrator.executors.registry import RuntimeSetup

CONTAINER_RESULTS = PurePosixPath("/results")
LABEL_CAMPAIGN = "camp.campaign"
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


def engine_answers(client: DockerClient | None = None) -> str | None:
    """None when a Docker engine and Compose v2 answer; else the reason they do not."""
    client = client or DockerClient()
    try:
        client.info()
    except Exception as err:  # not installed, daemon down, no permission: all mean "not usable"
        return f"no Docker engine answers ({str(err).strip().splitlines()[-1] if str(err).strip() else err})"
    try:
        client.compose.version()
    except Exception:
        return "Docker Compose v2 (`docker compose`) is not installed"
    return None


def unavailable(setup: RuntimeSetup) -> str | None:
    """The registry's hook: why compose cannot run here (no engine, no Compose v2, no compose
    file), or None."""
    problem = engine_answers()
    if problem is None and not setup.compose_file.is_file():
        problem = f"no compose file at {setup.compose_file}"
    return problem


def make_runtime(setup: RuntimeSetup) -> DockerRuntime:
    """The registry's hook: the runtime for the compose file camp was given."""
    return DockerRuntime(setup.compose_file)


ClientFactory = Callable[[Path], Any]


class DockerRuntime:
    name = "docker"

    def __init__(self, compose_file: Path, client_factory: ClientFactory | None = None):
        self.compose_file = compose_file
        self.client_factory: ClientFactory = client_factory or self._client
        self.client: Any = self.client_factory(Path(os.devnull))  # for container housekeeping
        self._images: dict[str, str | None] | None = None  # service → image reference, from compose
        self._images_lock = threading.Lock()

    def _client(self, compose_env: Path) -> DockerClient:
        return DockerClient(
            compose_files=[self.compose_file],
            compose_project_directory=self.compose_file.parent,
            compose_env_files=[compose_env],
            compose_profiles=COMPOSE_PROFILES,
        )

    @staticmethod
    def _variables(results_root: Path, gpus: tuple[str, ...] = ()) -> dict[str, str]:
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
        container_env = {**request.env, **self.image_facts(request.backend)}  # lease's, then image's
        with run_env_files(self._variables(request.results_root, request.gpus)) as files:
            return self._execute(request, self.client_factory(files.compose_env), container_env)

    def image_facts(self, backend: BackendName) -> dict[str, str]:
        """The ID (``sha256:…``) and, where it came from a registry, the digest of the image a run
        of ``backend`` starts from, as variables for the container; {} when it cannot be
        inspected (the result then records none). Asked just before each run, so a rebuild
        between runs is seen."""
        try:
            reference = self._image_reference(backend)
            if reference is None:
                return {}
            image = self.client.image.inspect(reference)
        except Exception:  # no such image, compose config unreadable: a run never fails for this
            return {}
        facts = {IMAGE_ID_VARIABLE: str(image.id)}
        if image.repo_digests:
            facts[IMAGE_DIGEST_VARIABLE] = str(image.repo_digests[0])
        return facts

    def _image_reference(self, backend: BackendName) -> str | None:
        with self._images_lock:
            if self._images is None:
                services = self.client.compose.config(return_json=True)["services"]
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
                tempfile.TemporaryDirectory() as scratch,
                run_env_files(self._variables(Path(scratch))) as files,
            ):
                try:
                    output = self.client_factory(files.compose_env).compose.run(
                        service,
                        ["camp-harness", "contract", "--backend", backend],
                        remove=True,
                        tty=False,
                        dependencies=False,
                        user=f"{os.getuid()}:{os.getgid()}",
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
        self._remove(request.container_name)

    def _execute(self, request: RunRequest, client: Any, container_env: dict[str, str]) -> ExecOutcome:
        self._remove(request.container_name)
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
        """Stop and remove a container by name, whatever state its compose client is in."""
        with contextlib.suppress(DockerException):  # no such container: nothing to stop
            self.client.container.remove(name, force=True, volumes=True)

    def cleanup(self, campaign: str) -> list[str]:
        try:
            leftovers = self.client.container.list(
                all=True, filters={"label": f"{LABEL_CAMPAIGN}={campaign}"}
            )
        except DockerException:
            return []
        names = [c.name for c in leftovers]
        for name in names:
            self._remove(name)
        return names
