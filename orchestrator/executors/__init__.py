"""Executors dispatch one run of the harness: in a container (docker) or as a subprocess (local)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from orchestrator.executors.base import ExecOutcome, Executor, ExecutorUnavailable, RunRequest
from orchestrator.executors.local import LocalExecutor

ExecutorChoice = Literal["auto", "docker", "local"]


def make_executor(choice: ExecutorChoice, compose_file: Path) -> tuple[Executor, str | None]:
    """The executor to use and, when ``auto`` fell back to local, the notice to show."""
    if choice == "local":
        return LocalExecutor(), None
    from orchestrator.executors.docker import DockerExecutor, engine_answers

    problem = engine_answers()
    if problem is None and not compose_file.is_file():
        problem = f"no compose file at {compose_file}"
    if problem is None:
        return DockerExecutor(compose_file), None
    if choice == "docker":
        raise ExecutorUnavailable(f"executor 'docker' cannot run: {problem}")
    return LocalExecutor(), f"{problem}: running the harness locally (executor 'local') instead"


__all__ = ["ExecOutcome", "Executor", "ExecutorUnavailable", "LocalExecutor", "RunRequest", "make_executor"]
