"""Shared test set-up: the docker marker is required (fails instead of skipping) when
CAMP_REQUIRE_DOCKER=1, as in CI, so the real container path can never silently go untested."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_items = [item for item in items if "docker" in item.keywords]
    if not docker_items:
        return
    from orchestrator.executors.docker import engine_answers

    problem = engine_answers()
    if problem is None:
        return
    if os.environ.get("CAMP_REQUIRE_DOCKER") == "1":
        raise pytest.UsageError(f"CAMP_REQUIRE_DOCKER=1 but {problem}")
    for item in docker_items:
        item.add_marker(
            pytest.mark.skip(reason=f"{problem} (set CAMP_REQUIRE_DOCKER=1 to make this an error)")
        )
