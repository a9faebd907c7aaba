"""The campaign file: its schema and loading it into a validated ``Campaign``.

Every problem in a campaign file is reported at once, each with the file, the line, the field
path and (for a misspelt key) a did-you-mean, so a researcher fixes the file in one pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from camp_contract.model_ref import looks_like_path, split_revision
from camp_contract.models import BackendName, MeasurementSettings, Workload
from camp_contract.params import PARAMS_BY_BACKEND
from orchestrator.config_errors import (
    ConfigError,
    ConfigProblem,
    Loc,
    load_yaml_with_lines,
    problems_from_validation,
)
from orchestrator.executors.registry import ExecutorChoice
from orchestrator.gpu_ids import gpu_id_problem

WORKLOAD_PREFIX = "workload."


def _model_name(model: str) -> str:
    """A Hub id (``org/name``, pinned as ``org/name@rev``), a local path or a built-in model."""
    if not model.strip():
        raise ValueError("empty model name")
    if not looks_like_path(model):
        split_revision(model)
    return model


ModelName = Annotated[str, AfterValidator(_model_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    """A grid value given as a scalar means a one-point axis."""
    return value if isinstance(value, list) else [value]


class BackendSection(_Strict):
    """One backend's part of the campaign: its own grid, fixed params and optional models."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    models: list[ModelName] | None = None

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_values_are_lists(cls, grid: Any) -> Any:
        return {k: _as_list(v) for k, v in grid.items()} if isinstance(grid, dict) else grid


class OrderSettings(_Strict):
    """Run order (see schedule.py). ``balanced`` (default) runs every experiment once per cycle
    and varies which experiment it follows from cycle to cycle, so heat carried over from a
    heavy run is spread over all configs (seeded); ``interleaved`` repeats one sequence every
    cycle (each experiment always after the same one); ``shuffled`` shuffles each cycle (seeded);
    ``grouped`` runs all cycles of one experiment back to back."""

    mode: Literal["balanced", "interleaved", "shuffled", "grouped"] = "balanced"
    seed: int = 0


class Gaps(_Strict):
    """Fixed idle pauses between runs. Each run also waits in the harness until its GPUs are back
    at idle (``measurement.settle``); a gap adds time on top, e.g. for other tenants to finish."""

    between_runs_s: float = Field(default=0.0, ge=0)
    between_cycles_s: float = Field(default=0.0, ge=0)


class Campaign(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    models: list[ModelName] = Field(default_factory=list)
    backends: dict[BackendName, BackendSection] = Field(min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    workload: Workload = Workload()
    cycles: int = Field(default=3, ge=1)
    order: OrderSettings = OrderSettings()
    gaps: Gaps = Gaps()
    timeout_s: float = Field(default=900.0, gt=0)
    retries: int = Field(default=1, ge=0)
    max_consecutive_failures: int = Field(default=5, ge=1)
    executor: ExecutorChoice = "auto"  # a name in the executor registry, or auto
    # GPUs (indices or UUIDs) the campaign may use. Two or more: one run per GPU at a time,
    # tensor-parallel runs on as many GPUs as they need. Empty: one run at a time on the
    # executor's default devices.
    gpus: list[str] = Field(default_factory=list)
    measurement: MeasurementSettings = MeasurementSettings()
    seed: int = 0

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_values_are_lists(cls, grid: Any) -> Any:
        return {k: _as_list(v) for k, v in grid.items()} if isinstance(grid, dict) else grid

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpu_ids_are_strings(cls, gpus: Any) -> Any:
        return (
            [str(g) if isinstance(g, int) and not isinstance(g, bool) else g for g in gpus]
            if isinstance(gpus, list)
            else gpus
        )

    @field_validator("gpus")
    @classmethod
    def _gpu_ids_are_gpu_ids(cls, gpus: list[str]) -> list[str]:
        for gpu in gpus:
            problem = gpu_id_problem(gpu)
            if problem is not None:
                raise ValueError(problem)
        return gpus

    @model_validator(mode="after")
    def _gpus_are_distinct(self) -> Campaign:
        if len(set(self.gpus)) != len(self.gpus):
            raise ValueError("gpus lists a device twice")
        return self

    @model_validator(mode="after")
    def _every_backend_has_a_model(self) -> Campaign:
        for name, section in self.backends.items():
            if not (section.models or self.models):
                raise ValueError(
                    f"backend {name!r} has no model: set top-level `models` or `backends.{name}.models`"
                )
        return self

    def models_for(self, backend: BackendName) -> list[str]:
        return list(self.backends[backend].models or self.models)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _grid_key_problem(path: Loc, key: str, allowed: set[str], what: str) -> ConfigProblem | None:
    workload_fields = set(Workload.model_fields)
    if key.startswith(WORKLOAD_PREFIX):
        field = key[len(WORKLOAD_PREFIX) :]
        if field not in workload_fields:
            return ConfigProblem.unknown_key(path, field, workload_fields, what="workload field")
        return None
    if key not in allowed:
        return ConfigProblem.unknown_key(
            path, key, allowed | {WORKLOAD_PREFIX + f for f in workload_fields}, what=what
        )
    return None


def _key_problems(data: dict[str, Any]) -> list[ConfigProblem]:
    """Keys pydantic cannot judge (backend params and grid axes), checked on the raw file so they
    are reported together with the schema's own problems."""
    problems: list[ConfigProblem] = []
    backends = {b: _mapping(s) for b, s in _mapping(data.get("backends")).items() if b in PARAMS_BY_BACKEND}
    for backend, section in backends.items():
        allowed = set(PARAMS_BY_BACKEND[backend].model_fields)
        for key in _mapping(section.get("params")):
            if key not in allowed:
                problems.append(
                    ConfigProblem.unknown_key(
                        ("backends", backend, "params", key), str(key), allowed, what=f"{backend} parameter"
                    )
                )
        for key in _mapping(section.get("grid")):
            found = _grid_key_problem(
                ("backends", backend, "grid", key), str(key), allowed, f"{backend} parameter"
            )
            problems += [found] if found else []
    # A shared-grid key that no listed backend takes is a typo, not a per-backend rejection.
    takers: set[str] = (
        set().union(*(PARAMS_BY_BACKEND[b].model_fields for b in backends)) if backends else set()
    )
    for key in _mapping(data.get("grid")) if backends else {}:
        found = _grid_key_problem(("grid", key), str(key), takers, "parameter of any listed backend")
        problems += [found] if found else []
    axes = [(("grid", k), v) for k, v in _mapping(data.get("grid")).items()] + [
        (("backends", b, "grid", k), v)
        for b, s in backends.items()
        for k, v in _mapping(s.get("grid")).items()
    ]
    problems += [ConfigProblem(path, "a grid axis needs at least one value") for path, v in axes if v == []]
    return problems


def parse_campaign(text: str, source: Path) -> Campaign:
    """Validate campaign YAML text; raises ConfigError listing every problem with its line."""
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigProblem((), "a campaign file is a mapping (name:, models:, backends:, …)")]
        )
    problems = _key_problems(data)
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as err:
        problems = problems_from_validation(err, Campaign) + problems
    if problems:
        raise ConfigError(source, problems, lines)
    return campaign


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign file (see ``parse_campaign``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, [ConfigProblem((), f"cannot read the file: {err.strerror or err}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(path, [ConfigProblem((), "the file is not UTF-8 text")]) from None
    return parse_campaign(text, path)
