from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.executors import ExecutorUnavailable, make_executor
from orchestrator.executors import docker as docker_module
from orchestrator.executors.local import LocalRuntime


def test_auto_falls_back_to_local_with_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_module, "engine_answers", lambda: "no Docker engine answers (socket refused)")
    executor, notice = make_executor("auto", tmp_path / "compose.yaml")
    assert isinstance(executor, LocalRuntime)
    assert notice is not None and "socket refused" in notice and "local" in notice


def test_docker_asked_for_but_unavailable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docker_module, "engine_answers", lambda: "no Docker engine answers")
    with pytest.raises(ExecutorUnavailable, match="executor 'docker' cannot run"):
        make_executor("docker", tmp_path / "compose.yaml")


def test_missing_compose_file_counts_as_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_module, "engine_answers", lambda: None)
    executor, notice = make_executor("auto", tmp_path / "compose.yaml")
    assert isinstance(executor, LocalRuntime) and "no compose file" in (notice or "")


def test_auto_uses_docker_when_the_engine_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_module, "engine_answers", lambda: None)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    executor, notice = make_executor("auto", tmp_path / "compose.yaml")
    assert executor.name == "docker" and notice is None


def test_local_is_local() -> None:
    executor, notice = make_executor("local", Path("unused.yaml"))
    assert isinstance(executor, LocalRuntime) and notice is None
