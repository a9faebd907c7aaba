"""The slurm runtime: each run one Slurm job, submitted through submitit, that runs the harness
on its node through the site's runtime (slurm_node.py) and is waited for from here.

Slurm is the scheduler: camp asks for what a run needs (its GPUs, the site's partition, account,
QoS, time limit, whole nodes by default) and polls the job (``scontrol``, which answers without
accounting storage). The host stays the only writer of the manifest: the job writes its run's
files on shared storage, and its outcome comes back through submitit's result file there.

A job outlives ``camp run``. The job id reaches the manifest as soon as Slurm gives it
(``RunRequest.on_job``); after a ``kill -9`` the next ``camp run`` hands it back
(``attach_job``) and this runtime waits on that job — or takes the outcome it left — instead of
submitting the run again. A job whose id never reached the manifest is found by its name (the
run's, with a hash of the results directory), among this user's jobs only. Only ``stop``
(Ctrl-C, or a job overrunning its timeout) cancels, and only a job this campaign submitted.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from camp_contract.models import BackendName
from orchestrator.executors import slurm_jobs
from orchestrator.executors.runtime import ExecOutcome, ExecutorUnavailable, RunRequest
from orchestrator.executors.slurm_jobs import JobState
from orchestrator.executors.slurm_node import NodeTask, run_on_node
from orchestrator.executors.slurm_queue import GPUS_VARIABLE
from orchestrator.executors.slurm_site import SlurmSite
from orchestrator.secrets import redact

if TYPE_CHECKING:
    from orchestrator.executors.registry import RuntimeSetup

TIME_MARGIN_MIN = 5  # Slurm's limit: the run's timeout plus start-up, image checks, teardown
OVERRUN_GRACE_S = 120.0  # past its timeout (counted from its start), a job is cancelled from here
RESULT_WAIT_S = 10.0  # a job COMPLETED whose result file is not yet visible on shared storage
LOG_TAIL_CHARS = 20_000
JOBS_DIR = ".slurm"  # under the results directory: submitit's scripts, pickles and job logs


class Jobs(Protocol):
    """Slurm's command line (slurm_jobs.py); tests give a fake."""

    def job_state(self, job_id: str) -> JobState | None: ...
    def live_jobs(self, name: str) -> list[str]: ...
    def cancel(self, job_id: str) -> None: ...


def unavailable(setup: RuntimeSetup) -> str | None:
    """The registry's hook: a site file is needed, and a Slurm that answers."""
    if setup.site_file is None:
        return "the slurm executor needs --site site.yaml (the cluster's partition, runtime, …)"
    return slurm_jobs.problem()


def make_runtime(setup: RuntimeSetup) -> SlurmRuntime:
    from orchestrator.executors.slurm_site import load_site

    assert setup.site_file is not None  # unavailable() said so otherwise
    return SlurmRuntime(load_site(setup.site_file), setup.compose_file)


def job_name(request: RunRequest) -> str:
    """The run's name, and which results directory it writes to: a job of the same run of the
    same campaign in another results directory is not ours."""
    where = hashlib.sha256(str(request.results_root.resolve()).encode()).hexdigest()[:8]
    return f"{request.container_name}-{where}"


class SlurmRuntime:
    name = "slurm"
    reattaches = True  # the runner passes a recovered run's job id (attach_job)

    def __init__(self, site: SlurmSite, compose_file: Path, jobs: Jobs = slurm_jobs, clock: Any = time):
        self.site = site
        self.compose_file = compose_file
        self.jobs = jobs
        self.clock = clock
        self._stops: dict[str, threading.Event] = {}
        self._job_of: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- submission ---------------------------------------------------------------------------

    def folder(self, request: RunRequest) -> Path:
        return request.results_root.resolve() / JOBS_DIR / request.campaign

    def time_limit_min(self, request: RunRequest) -> int:
        return self.site.time_limit_min or math.ceil(request.timeout_s / 60) + TIME_MARGIN_MIN

    def sbatch_parameters(self, request: RunRequest) -> dict[str, Any]:
        """submitit's parameters for this run's job."""
        gpus = int(request.env.get(GPUS_VARIABLE, "1"))
        parameters: dict[str, Any] = {
            "job_name": job_name(request),
            "time": self.time_limit_min(request),
            "nodes": 1,
            "ntasks_per_node": 1,
            "cpus_per_task": self.site.cpus_per_task,
            "stderr_to_stdout": True,
            "setup": list(self.site.setup),
            "wckey": "",
        }
        optional = {
            "partition": self.site.partition,
            "account": self.site.account,
            "qos": self.site.qos,
            "mem": self.site.mem,
            "exclusive": True if self.site.exclusive else None,
        }
        parameters.update({k: v for k, v in optional.items() if v is not None})
        if self.site.request_gpus and gpus > 0:
            kind = f"{self.site.gpu_type}:" if self.site.gpu_type else ""
            parameters["gres"] = f"gpu:{kind}{gpus}"
        return parameters

    def node_task(self, request: RunRequest) -> NodeTask:
        sif = self.site.images.get(request.backend)
        plain = RunRequest(
            campaign=request.campaign,
            exp_id=request.exp_id,
            cycle=request.cycle,
            backend=request.backend,
            results_root=request.results_root.resolve(),
            spec_path=request.spec_path.resolve(),
            timeout_s=request.timeout_s,
            env={k: v for k, v in request.env.items() if k != GPUS_VARIABLE},
            owner=request.owner,  # the container's name and cleanup label on the node
        )
        return NodeTask(plain, self.site.runtime, self.compose_file.resolve(), sif)

    def submit(self, request: RunRequest) -> str:
        import submitit

        executor = submitit.SlurmExecutor(
            folder=self.folder(request), max_num_timeout=0, python=self.site.python
        )
        executor.update_parameters(**self.sbatch_parameters(request))
        job = executor.submit(run_on_node, self.node_task(request))
        return str(job.job_id)

    # -- one run ------------------------------------------------------------------------------

    def execute(self, request: RunRequest) -> ExecOutcome:
        stop = threading.Event()
        with self._lock:
            self._stops[request.container_name] = stop
        try:
            try:
                job_id = self._attach(request)
                if job_id is None:
                    job_id = self.submit(request)
            except Exception as err:  # sbatch refused (bad partition, account, …), Slurm down
                return ExecOutcome(None, "", error=f"Slurm did not take the job: {_last_line(err)}")
            with self._lock:
                self._job_of[request.container_name] = job_id
            if request.on_job is not None:
                request.on_job(job_id)
            if stop.is_set():  # Ctrl-C came while it was being submitted
                self.jobs.cancel(job_id)
            return self._wait(request, job_id, stop)
        finally:
            with self._lock:
                self._stops.pop(request.container_name, None)
                self._job_of.pop(request.container_name, None)

    def _attach(self, request: RunRequest) -> str | None:
        """The job of an earlier ``camp run`` to wait on instead of submitting: the one the
        manifest recorded, while Slurm knows it or its outcome is on disk; else a live job of
        this run found by name."""
        if request.attach_job is not None:
            state = self.jobs.job_state(request.attach_job)
            if state is not None or self._result_file(request, request.attach_job).exists():
                return request.attach_job
        live = self.jobs.live_jobs(job_name(request))
        return live[-1] if live else None

    def _wait(self, request: RunRequest, job_id: str, stop: threading.Event) -> ExecOutcome:
        running_since: float | None = None
        cancelled_for_overrun = False
        while True:
            state = self.jobs.job_state(job_id)
            if state is None or not state.live:
                break
            if state.running and running_since is None:
                running_since = self.clock.monotonic()
            overran = running_since is not None and (
                self.clock.monotonic() - running_since > request.timeout_s + OVERRUN_GRACE_S
            )
            if overran and not cancelled_for_overrun:
                cancelled_for_overrun = True
                self.jobs.cancel(job_id)
            if stop.wait(self.site.poll_s):
                self.jobs.cancel(job_id)
                stop.clear()
        return self._outcome(request, job_id, state, cancelled_for_overrun)

    def _outcome(
        self, request: RunRequest, job_id: str, state: JobState | None, overran: bool
    ) -> ExecOutcome:
        result = self._result_file(request, job_id)
        if state is not None and state.state == "COMPLETED":
            deadline = self.clock.monotonic() + RESULT_WAIT_S
            while not result.exists() and self.clock.monotonic() < deadline:
                self.clock.sleep(0.5)
        returned = _load_result(result)
        killed_by_slurm = state is not None and state.state != "COMPLETED"
        if isinstance(returned, ExecOutcome) and not (killed_by_slurm and not returned.timed_out):
            return returned
        log = returned.output if isinstance(returned, ExecOutcome) else self._log_tail(request, job_id)
        if overran:
            return ExecOutcome(124, log, timed_out=True)
        if state is None:
            ended = f"Slurm job {job_id} is no longer known to Slurm and left no outcome"
            return ExecOutcome(None, log, error=ended)
        where = f" on {state.node}" if state.node else ""
        why = f" ({state.reason})" if state.reason else ""
        ended = f"Slurm job {job_id} ended {state.state}{where}{why}"
        if isinstance(returned, ExecOutcome):  # the run saw its end: Slurm's signal, say
            return ExecOutcome(returned.exit_code, log, error=f"{ended}; the run exited {returned.exit_code}")
        if isinstance(returned, str):  # run_on_node itself raised: submitit kept the traceback
            ended += f": {_last_line(returned)}"
        return ExecOutcome(state.exit_code, log, error=ended)

    def _result_file(self, request: RunRequest, job_id: str) -> Path:
        return self.folder(request) / f"{job_id}_0_result.pkl"

    def _log_tail(self, request: RunRequest, job_id: str) -> str:
        log = self.folder(request) / f"{job_id}_0_log.out"
        try:
            with log.open("rb") as file:
                file.seek(0, 2)
                file.seek(max(0, file.tell() - LOG_TAIL_CHARS))
                return redact(file.read().decode(errors="replace"))
        except OSError:
            return ""

    # -- the rest of the runtime ---------------------------------------------------------------

    def stop(self, request: RunRequest) -> None:
        """Cancel this run's job (only it): its ``execute`` returns once Slurm says it ended."""
        with self._lock:
            stop = self._stops.get(request.container_name)
            job_id = self._job_of.get(request.container_name)
        if stop is not None:
            stop.set()
        if job_id is not None:
            self.jobs.cancel(job_id)

    def prepare(self, backends: Collection[BackendName]) -> None:
        if self.site.runtime == "apptainer":
            missing = sorted(b for b in backends if b not in self.site.images)
            if missing:
                raise ExecutorUnavailable(
                    f"site.yaml images: names no .sif for {', '.join(missing)}; build one with "
                    f"`apptainer build camp-{missing[0]}.sif docker-daemon://camp-{missing[0]}:latest`"
                )

    def cleanup(self, owner: str) -> list[str]:
        return []  # jobs a killed `camp run` left are re-attached to, never cancelled


def _load_result(path: Path) -> ExecOutcome | str | None:
    """What ``run_on_node`` returned (an ExecOutcome), the traceback where it raised, or None."""
    if not path.exists():
        return None
    from submitit.core.utils import pickle_load

    try:
        status, value = pickle_load(path)
    except Exception:
        return None
    if status == "success" and isinstance(value, ExecOutcome):
        return value
    return str(value)


def _last_line(err: object) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else repr(err)
