"""A fake executor that behaves like a container running the harness: it reads the spec the
runner wrote and writes (or does not write) result.json — or, for a failure the harness caught,
error.json — beside it."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from camp_contract.atomic import atomic_write_text
from camp_contract.failure import RunFailure, write_failure
from camp_contract.layout import RESULT_FILENAME, RunFiles
from camp_contract.models import RunSpec
from orchestrator.executors.runtime import ExecOutcome, RunRequest
from tests.factories import make_result

Behaviour = Callable[[RunRequest, RunSpec], ExecOutcome]


def succeed(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    atomic_write_text(request.spec_path.parent / RESULT_FILENAME, make_result(spec).model_dump_json())
    return ExecOutcome(0, "harness: ok\n")


def crash(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    """Dies before the harness can say why (killed, a crash before Python): no error.json."""
    return ExecOutcome(3, "Traceback ...\nRuntimeError: CUDA error: out of memory\n")


def harness_fails(request: RunRequest, spec: RunSpec, exp_id: str | None = None) -> ExecOutcome:
    """The harness caught the failure, as ``camp-harness run`` does: error.json beside the spec,
    its one line on stderr, exit 1 — and another line printed after it, as a thread may."""
    failure = RunFailure(
        exp_id=exp_id or spec.exp_id,
        cycle=spec.cycle,
        stage="run",
        error_type="RuntimeError",
        message="injected fault: the backend crashed",
    )
    write_failure(RunFiles(request.spec_path.parent).error, failure)
    return ExecOutcome(
        1, "camp-harness: run failed: RuntimeError: injected fault: the backend crashed\n[sampler] stopped\n"
    )


def harness_fails_naming_another_run(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    return harness_fails(request, spec, exp_id="someone-else")


def exit_zero_without_result(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    return ExecOutcome(0, "done?\n")


def invalid_result(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    (request.spec_path.parent / RESULT_FILENAME).write_text('{"schema_version": 1, "campaign": "x"}')
    return ExecOutcome(0, "")


def time_out(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    return ExecOutcome(124, "still generating...\n", timed_out=True)


@dataclass
class FakeExecutor:
    """Runs ``behaviours`` in turn (the last one repeats); records every request it got."""

    behaviours: list[Behaviour] = field(default_factory=lambda: [succeed])
    name: str = "fake"
    requests: list[RunRequest] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    prepared: list[set[str]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def ctrl_c(self, request: RunRequest, spec: RunSpec) -> ExecOutcome:
        """Behaviour: the user presses Ctrl-C while this run is in flight; it ends when stopped."""
        os.kill(os.getpid(), signal.SIGINT)
        assert self.stop_event.wait(10), "the runner never stopped the run"
        return ExecOutcome(137, "killed\n")

    def execute(self, request: RunRequest) -> ExecOutcome:
        spec = RunSpec.model_validate_json(request.spec_path.read_text())
        behaviour = self.behaviours[min(len(self.requests), len(self.behaviours) - 1)]
        self.requests.append(request)
        return behaviour(request, spec)

    def prepare(self, backends: object) -> None:
        self.prepared.append(set(backends))  # type: ignore[call-overload]

    def stop(self, request: RunRequest) -> None:
        self.stopped.append(request.container_name)
        self.stop_event.set()

    def cleanup(self, owner: str) -> list[str]:
        names, self.leftovers = self.leftovers, []
        return names
