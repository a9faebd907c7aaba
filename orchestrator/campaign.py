"""The campaign file: its schema and loading it into a validated ``Campaign``.

Every problem in a campaign file is reported at once, each with the file, the line, the field
path and (for a misspelt key) a did-you-mean, so a researcher fixes the file in one pass. The
backends' sections are typed from the backend registry (``campaign_types.py``), and the same
model is the JSON Schema ``camp schema`` prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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

from camp_contract.backends import BackendEntry, backend_entries
from camp_contract.model_ref import looks_like_path, split_revision
from camp_contract.models import DAY_S, MAX_SEED, BackendName, MeasurementSettings, Workload
from orchestrator.campaign_file import read_campaign_text
from orchestrator.campaign_types import WORKLOAD_PREFIX, field_value_errors, typed_campaign
from orchestrator.config_errors import (
    ConfigError,
    ConfigProblem,
    load_yaml_with_lines,
    problems_from_details,
    problems_from_validation,
)
from orchestrator.executors.registry import ExecutorChoice
from orchestrator.gpu_ids import gpu_id_problem
from orchestrator.overrides import apply_overrides
from orchestrator.serving_plan import server_load_problems
from orchestrator.slo import ServiceLevel

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_MAX_RUNS = 100_000
HARD_MAX_RUNS = 10_000_000  # a schedule of this many runs still fits in memory in a moment


def _model_name(model: str) -> str:
    """A Hub id (``org/name``, pinned as ``org/name@rev``), a local path or a built-in model."""
    if not model.strip():
        raise ValueError("empty model name")
    if not looks_like_path(model):
        split_revision(model)
    return model


ModelName = Annotated[str, AfterValidator(_model_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _as_list(value: Any) -> Any:
    """A grid value given as a scalar means a one-point axis."""
    return value if isinstance(value, list) else [value]


class BackendSection(_Strict):
    """One backend's part of the campaign: its own grid, fixed params and optional models, kept as
    written. ``campaign_model()`` types each backend's section by its parameter model: keys and
    each value's type and bounds are checked on load, whole points (cross-field rules) at expansion."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="This backend's axes: a parameter or workload.FIELD, each a list of values.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="This backend's fixed parameters.")
    models: list[ModelName] | None = Field(
        default=None, description="Models for this backend instead of `models`."
    )

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

    mode: Literal["balanced", "interleaved", "shuffled", "grouped"] = Field(
        default="balanced", description="balanced, interleaved, shuffled or grouped (see above)."
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Seeds the balanced and shuffled orders.")


class Gaps(_Strict):
    """Fixed idle pauses between runs. Each run also waits in the harness until its GPUs are back
    at idle (``measurement.settle``); a gap adds time on top, e.g. for other tenants to finish."""

    between_runs_s: float = Field(default=0.0, ge=0, le=DAY_S, description="Seconds idle after each run.")
    between_cycles_s: float = Field(
        default=0.0, ge=0, le=DAY_S, description="Seconds idle after each cycle, on top of between_runs_s."
    )


class Campaign(_Strict):
    """A campaign: which backends run which models over which grid of parameters, how often and
    how measured. Every backend's section is typed by its parameters (``camp schema``)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=80,
        description="The campaign's name: its results go to results/<name>/.",
    )
    description: str = Field(default="", max_length=10_000, description="Free text, for the reader.")
    models: list[ModelName] = Field(
        default_factory=list,
        description="Models every backend runs (unless its section names its own): a Hub id, pinned as "
        "org/name@<commit>, a local path, or a built-in model such as tiny-random:gpt2.",
    )
    backends: dict[BackendName, BackendSection] = Field(  # typed per backend: campaign_model()
        min_length=1,
        description="The backends to run, each with its own grid, params and models.",
    )
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Axes shared by every backend, crossed with each backend's own grid: a backend "
        "parameter or workload.FIELD, each a list of values.",
    )
    workload: Workload = Field(default=Workload(), description="What is sent to the model.")
    cycles: int = Field(
        default=3, ge=1, le=10_000, description="Repetitions of every experiment: the n of its intervals."
    )
    order: OrderSettings = Field(default=OrderSettings(), description="The order runs go in.")
    gaps: Gaps = Field(default=Gaps(), description="Fixed idle pauses between runs and cycles.")
    timeout_s: float = Field(
        default=900.0,
        gt=0,
        le=7 * DAY_S,
        description="A run still going after this many seconds is stopped and failed.",
    )
    retries: int = Field(
        default=1, ge=0, le=100, description="How often one `camp run` retries a failed run before going on."
    )
    max_consecutive_failures: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="The campaign stops after this many failed runs in a row (a broken image or machine).",
    )
    executor: ExecutorChoice = Field(
        default="auto",
        description="What runs each run: docker (a container per run), local (the harness as a process "
        "here), slurm (a job per run, with --site), or auto (the first available of docker, then local).",
    )
    gpus: list[str] = Field(
        default_factory=list,
        json_schema_extra={"items": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}},
        description="GPUs (indices or UUIDs) the campaign may use. Two or more: one run per GPU at a "
        "time, tensor-parallel runs on as many as they need. Empty: one run at a time on the "
        "executor's default devices.",
    )
    measurement: MeasurementSettings = Field(
        default=MeasurementSettings(), description="How energy is measured (docs/measurement.md)."
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        description="Seeds the synthetic prompts and every other random choice of a run.",
    )
    max_runs: int = Field(
        default=DEFAULT_MAX_RUNS,
        ge=1,
        le=HARD_MAX_RUNS,
        description="The most runs (grid points × models × cycles) the campaign may expand to, counted "
        "before expanding: a typo that multiplies the grid is an error.",
    )
    slo: ServiceLevel | None = Field(
        default=None,
        description="Server mode: the latencies a request must stay within to count towards goodput. "
        "Read on the host only (no exp_id depends on it): change it and `camp report` re-counts "
        "goodput from the runs on disk.",
    )

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
    def _grid_within_max_runs(self) -> Campaign:
        runs = planned_runs(self)
        if runs > self.max_runs:
            raise ValueError(
                f"the grid expands to {runs:,} runs (grid points × models × {self.cycles} cycles), "
                f"over max_runs ({self.max_runs:,}): shrink the grid or cycles, or raise max_runs "
                f"(at most {HARD_MAX_RUNS:,})"
            )
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


def planned_runs(campaign: Campaign) -> int:
    """Runs the campaign expands to before rejections, counted from its axes without expanding."""
    points = 0
    for name, section in campaign.backends.items():
        axes = {**campaign.grid, **section.grid}
        points += len(campaign.models_for(name)) * math.prod(len(values) for values in axes.values())
    return points * campaign.cycles


def campaign_model() -> type[Campaign]:
    """The campaign file's model with every registered backend typed (what ``parse_campaign``
    validates and ``camp schema`` prints); rebuilt when a plugin registers a backend."""
    return typed_campaign(Campaign, BackendSection, backend_entries())


def campaign_json_schema() -> dict[str, Any]:
    """The JSON Schema of a campaign file (``camp schema``): each registered backend's ``params``
    and ``grid`` typed by its parameter model, for editors to complete and check."""
    schema = campaign_model().model_json_schema()
    _rates_may_be_inf(schema)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


INF_SPELLINGS = ("inf", "Infinity")  # what the saturating request rate is written as
_RATE_KEYS = ("request_rate", WORKLOAD_PREFIX + "request_rate")


def _rates_may_be_inf(node: Any) -> None:
    """A request rate may be ``inf`` (YAML reads it as text, pydantic as infinity): say so in
    the schema, so an editor does not flag ``request_rate: inf``."""
    if isinstance(node, list):
        for item in node:
            _rates_may_be_inf(item)
    if not isinstance(node, dict):
        return
    for name, prop in (node.get("properties") or {}).items():
        if name in _RATE_KEYS and isinstance(prop, dict):
            choices = (prop.get("items") or prop).get("anyOf")
            if isinstance(choices, list):
                choices.append({"enum": list(INF_SPELLINGS), "type": "string"})
    for value in node.values():
        _rates_may_be_inf(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _shared_axes_no_listed_backend_takes(data: dict[str, Any]) -> list[ConfigProblem]:
    """A shared-grid key, or a value, that some backend takes but none of those listed is a typo
    (one no backend takes at all, the schema reports)."""
    registered = {entry.name: entry for entry in backend_entries()}
    listed = [registered[name] for name in _mapping(data.get("backends")) if name in registered]
    if not listed:
        return []
    takers = set().union(*(entry.params.model_fields for entry in listed))
    taken_by_some = set().union(*(entry.params.model_fields for entry in registered.values()))
    axes = takers | {WORKLOAD_PREFIX + field for field in Workload.model_fields}
    problems = [
        ConfigProblem.unknown_key(("grid", key), key, axes, what="parameter of any listed backend")
        for key in map(str, _mapping(data.get("grid")))
        if key in taken_by_some and key not in takers
    ]
    for key, values in _mapping(data.get("grid")).items():
        if key in takers:
            problems += _values_no_listed_backend_takes(key, values, listed, list(registered.values()))
    return problems


def _values_no_listed_backend_takes(
    key: str, values: Any, listed: list[BackendEntry], registered: list[BackendEntry]
) -> list[ConfigProblem]:
    """A shared-grid value only an unlisted backend accepts (``quantization: fp8`` with only
    tensorrt listed, whose methods are upper case): each listed backend would reject it."""
    problems = []
    for index, value in enumerate(values if isinstance(values, list) else [values]):
        errors = [field_value_errors(e.params, key, value) for e in listed if key in e.params.model_fields]
        if all(errors) and any(
            not field_value_errors(e.params, key, value) for e in registered if key in e.params.model_fields
        ):
            problems += problems_from_details(("grid", key, index), errors[0][0])
    return problems


def parse_campaign(text: str, source: Path, overrides: Sequence[str] = ()) -> Campaign:
    """Validate campaign YAML text, with ``-s KEY=VALUE`` overrides applied first (overrides.py);
    raises ConfigError listing every problem with its line or its override."""
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigProblem((), "a campaign file is a mapping (name:, models:, backends:, …)")]
        )
    model = campaign_model()
    applied = apply_overrides(data, overrides, model)
    data = applied.data
    problems = applied.problems + _shared_axes_no_listed_backend_takes(data)
    try:
        campaign = model.model_validate(data)
    except ValidationError as err:
        problems = problems_from_validation(err, model) + problems
    if problems:
        raise ConfigError(source, problems, lines, origins=applied.origins)
    problems = server_load_problems(campaign)
    if problems:
        raise ConfigError(source, problems, lines, origins=applied.origins)
    return campaign


def load_campaign(path: Path, overrides: Sequence[str] = ()) -> Campaign:
    """Read and validate a campaign file, with its overrides (see ``parse_campaign``)."""
    return parse_campaign(read_campaign_text(path), path, overrides)
