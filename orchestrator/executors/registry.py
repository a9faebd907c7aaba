"""Every executor camp knows, by the name a campaign (``executor:``) and ``camp run --executor``
use: its runtime (how a run starts) and its placement (where it runs, which GPUs it gets).

An entry names the module of each half, so nothing is imported until an executor is chosen (the
docker runtime's client stays out of ``camp plan``). A runtime module provides
``make_runtime(setup) -> Runtime`` and, if it can be missing here, ``unavailable(setup) -> str |
None`` (why it cannot run, or None); a placement module provides ``make_placement(campaign) ->
Placement``. ``auto`` picks the available entry with the lowest ``auto_rank``, and says so when
it is not the first. docs/contributing.md walks through adding one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError

from orchestrator.executors.placement import Placement
from orchestrator.executors.runtime import ExecutorUnavailable, Runtime

if TYPE_CHECKING:
    from orchestrator.campaign import Campaign

AUTO = "auto"
LOCAL_GPU_POOL = "orchestrator.executors.gpu_pool"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class RuntimeSetup:
    """What the command line gives every runtime it builds."""

    compose_file: Path
    site_file: Path | None = None  # a cluster's site.yaml (the slurm executor)


@dataclass(frozen=True)
class ExecutorEntry:
    name: str  # lower-case, as a campaign and --executor write it
    runtime: str  # module providing make_runtime(setup) (and optionally unavailable(setup))
    description: str  # "the harness locally": what `auto` says it falls back to
    placement: str = LOCAL_GPU_POOL  # module providing make_placement(campaign)
    auto_rank: int | None = None  # auto tries entries by rank; None: only when named


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(entry: ExecutorEntry) -> ExecutorEntry:
    """Make ``entry`` a choice of ``executor:`` and ``--executor`` (a later entry of the same
    name replaces the earlier one)."""
    if entry.name == AUTO or not _NAME.match(entry.name):
        raise ValueError(f"executor name {entry.name!r}: use lower-case letters, digits and '-', not 'auto'")
    EXECUTORS[entry.name] = entry
    return entry


register_executor(
    ExecutorEntry(
        name="docker",
        runtime="orchestrator.executors.docker",
        description="the harness in compose containers",
        auto_rank=0,
    )
)
register_executor(
    ExecutorEntry(
        name="local",
        runtime="orchestrator.executors.local",
        description="the harness locally",
        auto_rank=1,
    )
)

register_executor(
    ExecutorEntry(
        name="slurm",
        runtime="orchestrator.executors.slurm",
        description="the harness in Slurm jobs",
        placement="orchestrator.executors.slurm_queue",
    )
)


def executor_choices() -> list[str]:
    """What ``executor:`` and ``--executor`` accept: ``auto`` and every registered name."""
    return [AUTO, *EXECUTORS]


def _module_function(module: str, function: str) -> Callable[..., Any] | None:
    loaded: ModuleType = importlib.import_module(module)
    found = getattr(loaded, function, None)
    return cast("Callable[..., Any] | None", found)


def _unavailable(entry: ExecutorEntry, setup: RuntimeSetup) -> str | None:
    check = _module_function(entry.runtime, "unavailable")
    return None if check is None else cast("str | None", check(setup))


def _build(entry: ExecutorEntry, setup: RuntimeSetup) -> Runtime:
    make = _module_function(entry.runtime, "make_runtime")
    if make is None:
        raise TypeError(f"executor {entry.name!r}: module {entry.runtime} has no make_runtime(setup)")
    return cast(Runtime, make(setup))


def make_executor(
    choice: str, compose_file: Path, site_file: Path | None = None
) -> tuple[Runtime, str | None]:
    """The runtime to use and, when ``auto`` fell back past an unavailable one, the notice to show."""
    setup = RuntimeSetup(compose_file=compose_file, site_file=site_file)
    if choice != AUTO:
        entry = EXECUTORS.get(choice)
        if entry is None:
            raise ExecutorUnavailable(
                f"no executor {choice!r}; choose one of {', '.join(executor_choices())}"
            )
        problem = _unavailable(entry, setup)
        if problem is not None:
            raise ExecutorUnavailable(f"executor {choice!r} cannot run: {problem}")
        return _build(entry, setup), None
    candidates = sorted(
        (e for e in EXECUTORS.values() if e.auto_rank is not None), key=lambda e: e.auto_rank or 0
    )
    first_problem: str | None = None
    for entry in candidates:
        problem = _unavailable(entry, setup)
        if problem is None:
            notice = None
            if first_problem is not None:
                notice = f"{first_problem}: running {entry.description} (executor {entry.name!r}) instead"
            return _build(entry, setup), notice
        first_problem = first_problem or problem
    raise ExecutorUnavailable(f"no executor can run here ({first_problem or 'none is registered for auto'})")


def make_placement(runtime_name: str, campaign: Campaign) -> Placement:
    """The placement of the executor whose runtime is ``runtime_name``; the local GPU pool for a
    runtime no entry names (one built by hand, as tests do)."""
    entry = EXECUTORS.get(runtime_name)
    module = entry.placement if entry is not None else LOCAL_GPU_POOL
    make = _module_function(module, "make_placement")
    if make is None:
        raise TypeError(f"placement module {module} has no make_placement(campaign)")
    return cast(Placement, make(campaign))


def _known_executor(value: Any) -> str:
    if isinstance(value, str) and (value == AUTO or value in EXECUTORS):
        return value
    expected = " or ".join(", ".join(repr(n) for n in executor_choices()).rsplit(", ", 1))
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


def _choices_schema(schema: dict[str, Any]) -> None:
    schema["enum"] = executor_choices()


# The campaign's `executor:` field: checked against the registry as it is when the file is read
# (so an executor registered by a plugin is accepted), with the same error as a fixed list.
ExecutorChoice = Annotated[
    str,
    PlainValidator(_known_executor, json_schema_input_type=str),
    Field(json_schema_extra=_choices_schema),
]
