"""The two files that cross the container boundary: the run spec (host → harness) and the
run result (harness → host).

Both sides import these models, so a change here is a change of contract: bump
``SPEC_SCHEMA_VERSION`` / ``RESULT_SCHEMA_VERSION`` when a field changes meaning or is removed.
Where the files live is ``camp_contract.layout``'s job: the spec sits in the run's directory and
the harness writes its result (and timeseries, or its ``error.json``) beside it, so no host path
is ever inside a spec.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from camp_contract.params import BackendParams
from camp_contract.power_sources import SourceRole, check_source, source_names

SPEC_SCHEMA_VERSION = 1
RESULT_SCHEMA_VERSION = 1

# A registered backend's name (camp_contract.backends): "stub", "pytorch", "vllm", "tensorrt" or a plugin's.
BackendName = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Settings(_Strict):
    """What a campaign sets: every number finite (an ``inf`` timeout or TTL means nothing a run
    can wait for) and bounded by the ``le=`` of its field."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_TOKENS = 1 << 24  # a context far beyond any model's
MAX_SEED = (1 << 63) - 1  # what every RNG camp seeds takes
DAY_S = 86_400.0


WorkloadMode = Literal["offline", "server"]
Arrival = Literal["poisson", "constant", "concurrency"]
# Requests per second of an open-loop load; ``inf`` (written "Infinity" in JSON) sends every
# request at once, the offline batch's load through the server.
RequestRate = Annotated[float, Field(gt=0, allow_inf_nan=True)]
SERVER_FIELDS = ("arrival", "request_rate", "concurrency", "duration_s", "warmup_s")
SERVER_DURATION_S = 60.0
SERVER_WARMUP_S = 10.0


def _unset(value: object) -> bool:
    return value is None


class Workload(_Settings):
    """What is sent to the model. Prompts are generated deterministically from the seed when
    ``prompts`` is empty, so a campaign needs no dataset download."""

    # ``request_rate: inf`` is written "Infinity" (JSON has no inf), and read back as inf.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, ser_json_inf_nan="strings")

    prompts: tuple[str, ...] = Field(
        default=(),
        max_length=100_000,
        description="The prompts to send, in turn; empty: synthetic ones from the seed.",
    )
    n_requests: int = Field(
        default=8,
        ge=1,
        le=1_000_000,
        description="Requests in the measured window; server mode at request_rate inf: the "
        "requests kept in flight.",
    )
    max_input_tokens: int = Field(
        default=128,
        ge=1,
        le=MAX_TOKENS,
        description="Each prompt is cut to this many tokens (every backend alike).",
    )
    max_output_tokens: int = Field(
        default=64, ge=1, le=MAX_TOKENS, description="Tokens generated per request."
    )
    fixed_output_length: bool = Field(
        default=True,
        description="Generate exactly max_output_tokens, ignoring end-of-sequence, so that energy per "
        "token compares across configs.",
    )

    # Serving mode: the engine's own OpenAI-compatible server, driven by an open-loop load
    # (docs/measurement.md, "The serving window"). Every field below is left out of the spec
    # while unset, so an offline experiment keeps the exp_id it had before serving existed.
    # ``offline``: all ``n_requests`` handed to the engine at once (the default); ``server``:
    # requests arrive by ``arrival`` for ``warmup_s`` (not measured), then for the measured
    # ``duration_s``; the drain after it is not measured either.
    mode: WorkloadMode = Field(
        default="offline",
        exclude_if=lambda mode: mode == "offline",
        description="offline: all requests handed to the engine at once; server: the engine's own "
        "OpenAI-compatible server, driven by arrivals for warmup_s, then the measured duration_s.",
    )
    # poisson / constant: open loop at ``request_rate`` requests/s (``inf``: the saturation
    # point, ``n_requests`` sent at once and each replaced as it finishes);
    # concurrency: closed loop, ``concurrency`` requests in flight. Unset: ``concurrency`` when
    # a concurrency is given, else ``poisson`` (``arrival_process``).
    arrival: Arrival | None = Field(
        default=None,
        exclude_if=_unset,
        description="Server mode: poisson or constant (open loop at request_rate), or concurrency "
        "(closed loop); unset: concurrency when a concurrency is given, else poisson.",
    )
    request_rate: RequestRate | None = Field(
        default=None,
        exclude_if=_unset,
        description="Server mode, open loop: requests per second (inf: saturate the server, "
        "n_requests sent at once and each replaced as it finishes).",
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        exclude_if=_unset,
        description="Server mode, closed loop: requests kept in flight.",
    )
    duration_s: float | None = Field(
        default=None,
        gt=0,
        le=DAY_S,
        exclude_if=_unset,
        description="Server mode: the measured steady window, seconds (default 60).",
    )
    warmup_s: float | None = Field(
        default=None,
        ge=0,
        le=DAY_S,
        exclude_if=_unset,
        description="Server mode: load at the target rate before the window, not measured (default 10).",
    )

    @model_validator(mode="before")
    @classmethod
    def _server_defaults(cls, data: Any) -> Any:
        """A server-mode workload's window lengths, filled in so the resolved spec says them."""
        if isinstance(data, dict) and data.get("mode") == "server":
            defaults = {"duration_s": SERVER_DURATION_S, "warmup_s": SERVER_WARMUP_S}
            data = {**data, **{k: v for k, v in defaults.items() if data.get(k) is None}}
        return data

    @model_validator(mode="after")
    def _server_fields_need_server_mode(self) -> Workload:
        if self.mode == "offline":
            set_server_fields = [name for name in SERVER_FIELDS if getattr(self, name) is not None]
            if set_server_fields:
                raise ValueError(
                    f"{set_server_fields[0]} applies to mode: server only; set workload.mode: "
                    f"server, or remove {set_server_fields[0]}"
                )
            return self
        if self.arrival == "concurrency" and self.request_rate is not None:
            raise ValueError(
                "arrival: concurrency keeps a number of requests in flight and takes no "
                "request_rate; use arrival: poisson or constant for a rate"
            )
        if self.arrival in ("poisson", "constant") and self.concurrency is not None:
            raise ValueError(
                f"arrival: {self.arrival} sends at request_rate and takes no concurrency; use "
                "arrival: concurrency (or leave arrival out) for a concurrency"
            )
        if self.request_rate is not None and self.concurrency is not None:
            raise ValueError("set request_rate or concurrency, not both")
        return self

    @property
    def arrival_process(self) -> Arrival | None:
        """The arrival process a server-mode run drives (None offline)."""
        if self.mode == "offline":
            return None
        if self.arrival is not None:
            return self.arrival
        return "concurrency" if self.concurrency is not None else "poisson"

    def missing_server_load(self) -> str | None:
        """Why a server-mode workload cannot run yet (no rate / no concurrency), or None.
        Checked on the whole spec: a campaign may leave the rate to its grid."""
        if self.mode != "server":
            return None
        arrival = self.arrival_process
        if arrival == "concurrency" and self.concurrency is None:
            return "workload.arrival concurrency needs workload.concurrency (requests in flight)"
        if arrival in ("poisson", "constant") and self.request_rate is None:
            return (
                f"workload.mode server with arrival {arrival} needs workload.request_rate "
                "(requests/s; inf: saturated), or workload.concurrency for a closed loop"
            )
        return None


class WarmupSettings(_Settings):
    """Warm up until the coefficient of variation of the last ``window`` latencies drops
    under ``cv_threshold``, or ``max_requests`` were sent."""

    min_requests: int = Field(default=2, ge=0, le=100_000, description="Warmup requests sent at least.")
    max_requests: int = Field(default=20, ge=0, le=100_000, description="Warmup requests sent at most.")
    window: int = Field(
        default=3, ge=2, le=10_000, description="How many of the latest latencies are judged."
    )
    cv_threshold: float = Field(
        default=0.05, gt=0, le=10, description="Warm once their coefficient of variation is under this."
    )


class BaselineSettings(_Settings):
    """Idle power measured before the model loads, cached per GPU for ``ttl_s`` seconds.

    ``method``: ``bare_idle`` measures the GPUs with no CUDA context (switched on, unused);
    ``cuda_context`` while an idle process holds a context on them (a higher power state), so
    that only the work's own energy is left after subtraction. Needs torch in the image."""

    enabled: bool = Field(
        default=True, description="Measure idle power and subtract it; off: report gross energy."
    )
    duration_s: float = Field(default=5.0, gt=0, le=DAY_S, description="Seconds of idle power measured.")
    ttl_s: float = Field(
        default=3600.0,
        ge=0,
        le=365 * DAY_S,
        description="Seconds a measured baseline is reused for (0: never).",
    )
    method: Literal["bare_idle", "cuda_context"] = Field(
        default="bare_idle", description="bare_idle or cuda_context (see above)."
    )
    recheck_s: float = Field(
        default=0.5,
        ge=0,
        le=DAY_S,
        description="A cached baseline is reused only if an idle read of this many seconds agrees with "
        "it (0: no check); else it is measured again.",
    )
    recheck_tolerance: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="How far (a share of its power) that read may be from the cached baseline.",
    )


class SettleSettings(_Settings):
    """Before the baseline and the load, wait (at most ``timeout_s``) until the GPUs are back
    at their idle state, so a run never starts warm from the run before it (see settle.py).

    Idle state: within ``temperature_tolerance_c`` of the cached baseline's temperature and
    ``power_tolerance`` (a share) of its power; with no cached baseline, until temperature has
    stopped falling (by less than 1 °C over ``steady_s``). Judged on idle reads of ``probe_s``,
    one every ``poll_s`` (a read is at least 0.1 s: the sampler reads temperature at 10 Hz)."""

    enabled: bool = Field(default=True, description="Wait for the GPUs to be back at idle before each run.")
    temperature_tolerance_c: float = Field(
        default=3.0,
        gt=0,
        le=100,
        description="°C above the cached baseline's temperature that counts as idle.",
    )
    power_tolerance: float = Field(
        default=0.05, gt=0, le=10, description="Share above the cached baseline's power that counts as idle."
    )
    timeout_s: float = Field(
        default=120.0, ge=0, le=DAY_S, description="Seconds waited at most; the run then goes on, warned."
    )
    poll_s: float = Field(default=2.0, gt=0, le=DAY_S, description="Seconds between idle reads.")
    probe_s: float = Field(  # NVML temperature is read every 0.1 s
        default=0.5, ge=0.1, le=DAY_S, description="Seconds each idle read lasts."
    )
    steady_s: float = Field(
        default=20.0,
        gt=0,
        le=DAY_S,
        description="Without a cached baseline: how long temperature must stop falling.",
    )


@dataclass(frozen=True)
class _RegisteredSource:
    """A power source's name, checked against the registry (``camp_contract.power_sources``)
    when validated, and listed there as the JSON Schema's ``enum`` (so a source registered later
    is both accepted and offered)."""

    role: SourceRole

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), "enum": source_names(self.role)}

    def _check(self, name: str) -> str:
        return check_source(name, self.role)


GpuSourceName = Annotated[str, _RegisteredSource("gpu")]
ExtraSourceName = Annotated[str, _RegisteredSource("extra")]


class MeasurementSettings(_Settings):
    """How a run is metered: power sampling, the idle baseline, settling and warmup."""

    sample_hz: float = Field(default=10.0, gt=0, le=100, description="Power samples per second.")
    baseline: BaselineSettings = BaselineSettings()
    settle: SettleSettings = SettleSettings()
    warmup: WarmupSettings = WarmupSettings()
    # Where the headline power comes from: "nvml" on a GPU, "synthetic" for the stub and tests. A
    # campaign that names none gets its backend's (camp_contract.backends: the stub's is synthetic).
    power_source: GpuSourceName = Field(
        default="nvml",
        description="Where the headline power comes from: nvml on a GPU, synthetic for the stub and "
        "tests. Unset: the backend's own.",
    )
    # Sources metered beside it at every sample ("rapl": CPU package and DRAM), each reported
    # per device in the result's ``energy_by_source``. Left out of the spec while empty, so an
    # experiment that meters nothing more keeps the exp_id it had before this field existed.
    extra_power_sources: tuple[ExtraSourceName, ...] = Field(
        default=(),
        exclude_if=lambda sources: not sources,
        description="Sources metered beside it (rapl: CPU packages and DRAM), reported per device.",
    )

    @field_validator("extra_power_sources")
    @classmethod
    def _each_source_once(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({s for s in sources if sources.count(s) > 1})
        if repeated:
            raise ValueError(f"lists {repeated[0]!r} twice: meter each source once")
        return sources


class RunSpec(_Strict):
    """Everything the harness needs to run one cycle of one experiment.

    The spec is a discriminated union on ``backend``: each registered backend has its own spec
    type (``camp_contract.spec_types``), this model with ``backend`` fixed to its name
    and ``params`` typed by its parameter model, and ``RunSpec.model_json_schema()`` is the union.
    ``RunSpec(...)`` and ``RunSpec.model_validate*`` build the backend's own type, so a spec's
    ``params`` are always its backend's validated parameters, defaults filled in; spec.json
    stays as it was: ``"backend": "stub", "params": {"batch_size": 1, …}``.
    """

    schema_version: Literal[1] = 1  # = SPEC_SCHEMA_VERSION
    campaign: str
    exp_id: str
    cycle: int = Field(ge=0)
    backend: BackendName
    model: str
    # Backend parameters after grid expansion (batch_size, dtype, engine args, ``extra`` passthrough).
    params: BackendParams = BackendParams()
    workload: Workload = Workload()
    measurement: MeasurementSettings = MeasurementSettings()
    seed: int = 0

    # The spec types are built on this class (camp_contract.spec_types), hence the imports inside.
    def __new__(cls, *args: Any, **data: Any) -> RunSpec:
        if cls is RunSpec and isinstance(data.get("backend"), str):
            from camp_contract.backends import UnknownBackend
            from camp_contract.spec_types import spec_type

            with contextlib.suppress(UnknownBackend):  # else validation names it, with the registered ones
                cls = spec_type(data["backend"])
        return super().__new__(cls)

    @model_validator(mode="wrap")
    @classmethod
    def _as_its_backends_type(cls, data: Any, handler: ModelWrapValidatorHandler[RunSpec]) -> RunSpec:
        if cls is not RunSpec:
            return handler(data)
        from camp_contract.spec_types import validate_spec

        return validate_spec(data)

    @model_validator(mode="after")
    def _server_load_named(self) -> RunSpec:
        missing = self.workload.missing_server_load()
        if missing:
            raise ValueError(missing)
        return self

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """For ``RunSpec`` itself, the union of every registered backend's spec type."""
        if cls is not RunSpec:
            return super().model_json_schema(*args, **kwargs)
        from camp_contract.spec_types import spec_json_schema

        return spec_json_schema()


class RequestRecord(_Strict):
    input_tokens: int
    output_tokens: int
    latency_s: float


class SourceBaseline(_Strict):
    """One extra power source's idle power: the median of its samples, summed over its devices."""

    power_w: float
    spread_w: float  # inter-quartile range of the idle samples


class BaselineInfo(_Strict):
    power_w: float  # median idle power, summed over the measured devices
    spread_w: float  # inter-quartile range of the idle samples
    n_samples: int
    duration_s: float
    # server_idle: a server-mode run's, measured with the engine's server up and idle
    method: Literal["bare_idle", "cuda_context", "synthetic", "disabled", "server_idle"]
    cached: bool
    measured_at: str  # ISO 8601 UTC
    temperature_c: dict[str, float] = Field(default_factory=dict)  # per GPU UUID, median while measured
    age_s: float = 0.0  # how old a cached baseline was when reused (0: measured in this run)
    recheck_w: float | None = None  # the short idle read that checked a cached baseline, if one did
    # The extra power sources' idle power, measured in the same window (cached with it); the GPU
    # source's is ``power_w`` above. Empty in results written before sources composed.
    by_source: dict[str, SourceBaseline] = Field(default_factory=dict)


class SettleInfo(_Strict):
    """The settle gate before the baseline and the load: what it judged idle against, how long
    it waited, and the GPUs' state when it stopped."""

    # baseline: a cached baseline of these GPUs (its temperature and power); trend: none yet, so
    # until temperature stopped falling; none: no baseline and no temperature, nothing to judge;
    # disabled: settle.enabled is false
    reference: Literal["baseline", "trend", "none", "disabled"]
    judged_on: Literal["temperature_and_power", "temperature", "power", "nothing"]
    settled: bool  # false: timeout_s passed first (a not_settled warning)
    waited_s: float
    temperature_c: dict[str, float]  # per GPU UUID at the last idle read
    power_w: float | None  # idle power at the last idle read, summed over the GPUs
    reference_temperature_c: dict[str, float]
    reference_power_w: float | None


class EnergyInfo(_Strict):
    """The measured window's joules. ``method``: ``counter`` (the counter's delta),
    ``counter_refined`` (the counter between its updates nearest the edges + sampled power over
    the edge slivers) or ``integration`` (sampled power); why, in ``method_reason``."""

    method: Literal["counter", "counter_refined", "integration"]
    total_j: float  # the energy of the measured window, from ``method``
    counter_j: float | None  # plain energy counter delta, where the device has one
    integrated_j: float  # trapezoidal integral of sampled power over the window
    adjusted_j: float  # total_j − baseline.power_w × window duration
    disagreement: float | None  # |total − integrated| / total, where total rests on the counter
    method_reason: str = ""  # empty in results written before the estimator was chosen
    counter_step_s: float | None = None  # the counter's update step, estimated from the trace
    counter_step_resolved: bool = False  # False: counter_step_s is only an upper bound


class SourceEnergy(_Strict):
    """One power source's joules over the measured window, in total and per device (GPU UUID,
    RAPL domain such as ``package-0``), by the same estimator as the headline. The ``gpu``
    source's figures are the headline's (``energy``); an ``extra`` source is adjusted by its own
    idle power, measured in the same baseline window (``baseline.by_source``)."""

    role: SourceRole
    method: Literal["counter", "counter_refined", "integration"]
    total_j: float
    per_device: dict[str, float]
    baseline_w: float | None = None  # this source's idle power, summed over its devices
    adjusted_j: float | None = None  # total_j − baseline_w × window duration


def _null_is_undefined(value: Any) -> Any:
    return math.nan if value is None else value


# A ratio with nothing to divide by (no output tokens, a zero-length window): NaN in Python, null
# in result.json (pydantic writes NaN as null), so it is never averaged in as a 0.
Ratio = Annotated[
    float,
    BeforeValidator(_null_is_undefined),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]}),
]


class Metrics(_Strict):
    model_config = ConfigDict(ser_json_inf_nan="null")  # a NaN ratio is written as null

    n_requests: int
    input_tokens: int
    output_tokens: int
    duration_s: float  # the measured window only
    throughput_tokens_per_s: Ratio  # output tokens per second; NaN for a zero-length window
    requests_per_s: Ratio
    latency_mean_s: float
    latency_p50_s: float
    latency_p90_s: float
    latency_p99_s: float
    energy_j: float  # = energy.total_j
    energy_adjusted_j: float  # = energy.adjusted_j
    energy_per_output_token_j: Ratio  # adjusted energy / output tokens; NaN with no output tokens
    energy_per_request_j: float  # adjusted energy / requests
    avg_power_w: Ratio  # window energy / window duration
    peak_power_w: float
    load_time_s: float
    load_energy_j: float


class LatencyStats(_Strict):
    """One latency over a serving window's requests (or inter-token gaps): NaN (null in JSON)
    where there was nothing to measure."""

    model_config = ConfigDict(ser_json_inf_nan="null")

    n: int  # how many values the statistics are over
    mean_s: Ratio
    p50_s: Ratio
    p90_s: Ratio
    p99_s: Ratio


class ServingMetrics(_Strict):
    """A server-mode run: the load as driven and the latencies and energy of its measured
    window (the per-request rows are in ``requests.parquet``, ``camp_contract.requests_table``).

    Counts are of the measured window: a request is the window's when it was *scheduled* in it.
    Energy per request divides the window's adjusted energy by the requests *completed* in it,
    and per output token by the tokens *emitted* in it, so both rest on steady-state work only
    (docs/measurement.md, "The serving window")."""

    model_config = ConfigDict(ser_json_inf_nan="strings")  # an inf target rate stays inf

    arrival: Arrival
    target_rate_rps: RequestRate | None  # None for arrival concurrency
    # requests kept in flight: the concurrency, or n_requests at an infinite rate (the
    # saturation point); None for an open loop at a finite rate
    concurrency: int | None
    warmup_s: float
    window_s: float  # the measured window's length as it was, not as asked
    requests_scheduled: int
    requests_sent: int
    requests_completed: int  # completed within the window (of any scheduled time)
    requests_failed: int  # of those scheduled in the window
    achieved_rate_rps: Ratio  # sends in the window / its length
    completed_rate_rps: Ratio
    output_tokens_in_window: int
    max_in_flight: int
    # open-loop fidelity: actual send time − scheduled time, over the window's requests
    send_lag_p50_s: Ratio
    send_lag_p99_s: Ratio
    send_lag_max_s: Ratio
    # Latencies are timed from each request's send, as `vllm bench serve` and AIPerf time them,
    # so figures compare; the load generator's own lag (send − scheduled) is ``send_lag_*``.
    ttft: LatencyStats  # send → first token
    tpot: LatencyStats  # per request: (last − first token) / (output tokens − 1)
    itl: LatencyStats  # every gap between two consecutive tokens of a request
    e2e: LatencyStats  # send → last token
    energy_per_request_j: Ratio
    energy_per_output_token_j: Ratio


class WarmupInfo(_Strict):
    n_requests: int
    converged: bool
    final_cv: float | None


class RunWarning(_Strict):
    """Something a researcher must know before citing a run's number. ``kind`` is a stable
    snake_case name (``short_window``, ``throttled``, …: see docs/measurement.md) that the host
    counts per experiment and that ``camp report --exclude-warned KIND`` filters on."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str

    def __str__(self) -> str:
        return self.message


class Provenance(_Strict):
    """Which camp code, in which image, produced a result: enough to rebuild what measured it.
    Defaults describe results written before provenance was recorded."""

    camp_version: str = "unknown"
    # git commit of camp's checkout ("<sha>-dirty" when its code had uncommitted changes): baked
    # into each image at build time, read from the checkout under the local executor; "unknown"
    # where neither knows (an installed wheel, an image built without the revision)
    source_revision: str = "unknown"
    image: str | None = None  # the camp image the harness ran in (None: not in one)
    image_id: str | None = None  # its ID (sha256:…) as the docker executor started it
    image_digest: str | None = None  # its registry digest (repo@sha256:…), where it was pushed or pulled
    base_image: str | None = None  # the image it was built FROM, as named at build time
    # Where it ran: the machine (a cluster node's name, not a container's) and, under the slurm
    # executor, the Slurm job; None in results written before these were recorded
    hostname: str | None = None
    slurm_job_id: str | None = None


# How a GPU's power samples were read: the NVML_FI_DEV_POWER_INSTANT field; nvmlDeviceGetPowerUsage,
# a 1 s average on Ampere and newer, instantaneous before; "usage" where the architecture was not
# known; the synthetic trace.
PowerReading = Literal["instant", "average_1s", "instant_usage", "usage", "synthetic"]


class SamplingInfo(_Strict):
    """How densely the measured window was sampled: the trace a cited integral rests on."""

    asked_hz: float
    achieved_hz: float  # the sampler's own samples per second (the window's edge marks excluded)
    n_samples_window: int  # every reading in the window, its two edge marks included
    max_interval_s: float  # the longest gap between two readings in the window
    power_readings: dict[str, PowerReading]  # per GPU UUID


class RunResult(_Strict):
    """What happened in one run. The host validates it before marking the run done."""

    schema_version: Literal[1] = 1  # = RESULT_SCHEMA_VERSION
    campaign: str
    exp_id: str
    cycle: int
    backend: BackendName
    model: str
    started_at: str
    finished_at: str
    metrics: Metrics
    energy: EnergyInfo
    baseline: BaselineInfo
    warmup: WarmupInfo
    window: tuple[float, float]  # start and end of the measured window on the sampler clock
    requests: tuple[RequestRecord, ...]
    environment: dict[str, Any]
    warnings: tuple[RunWarning, ...] = ()
    provenance: Provenance = Provenance()
    sampling: SamplingInfo | None = None  # None in results written before it was recorded
    settle: SettleInfo | None = None  # None: written before the settle gate existed
    window_start_temperature_c: dict[str, float] = Field(default_factory=dict)  # per GPU UUID
    # Every metered source's window energy by name (the GPU source's too): {} in results
    # written before sources composed.
    energy_by_source: dict[str, SourceEnergy] = Field(default_factory=dict)
    # A server-mode run's load and latencies (None offline); its ``requests`` above are empty
    # and its per-request rows are in requests.parquet instead.
    serving: ServingMetrics | None = None

    @field_validator("warnings", mode="before")
    @classmethod
    def _plain_strings_are_unclassified(cls, value: Any) -> Any:
        """Results written before warnings had kinds stay readable."""
        if isinstance(value, list | tuple):
            return [{"kind": "unclassified", "message": w} if isinstance(w, str) else w for w in value]
        return value
