"""Executors: how a run starts (its runtime: ``docker``, a compose container; ``local``, a
subprocess) and where it runs with which GPUs (its placement: the local GPU pool), paired by
name in the registry."""

from __future__ import annotations

from orchestrator.executors.placement import Demand, Lease, Placement
from orchestrator.executors.registry import (
    ExecutorChoice,
    ExecutorEntry,
    RuntimeSetup,
    executor_choices,
    make_executor,
    make_placement,
    register_executor,
)
from orchestrator.executors.runtime import ExecOutcome, ExecutorUnavailable, RunRequest, Runtime

__all__ = [
    "Demand",
    "ExecOutcome",
    "ExecutorChoice",
    "ExecutorEntry",
    "ExecutorUnavailable",
    "Lease",
    "Placement",
    "RunRequest",
    "Runtime",
    "RuntimeSetup",
    "executor_choices",
    "make_executor",
    "make_placement",
    "register_executor",
]
