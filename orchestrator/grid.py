"""Expanding a campaign into experiments: backends × models × (shared grid × backend grid).

Each grid point is validated against its backend's parameter schema; a point the backend cannot
take is kept as a ``RejectedPoint`` with the reason, so ``camp plan`` can show it and ``camp run``
skips it instead of failing hours later inside a container.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from camp_contract.backends import BackendEntry, backend_entry
from camp_contract.models import BackendName, MeasurementSettings, RunSpec, Workload
from camp_contract.params import BackendParams
from orchestrator.campaign import WORKLOAD_PREFIX, Campaign
from orchestrator.gc_pause import gc_paused
from orchestrator.serving_plan import load_label, unserved_reason

EXP_ID_LENGTH = 12


@dataclass(frozen=True)
class Experiment:
    """One fully resolved configuration; its runs are its cycles."""

    backend: BackendName
    model: str
    params: BackendParams  # the backend's own model, validated, defaults filled in
    workload: Workload
    measurement: MeasurementSettings
    seed: int
    swept: dict[str, Any] = field(default_factory=dict, compare=False)  # the grid values that made it

    def config(self) -> dict[str, Any]:
        """The resolved configuration (what ``exp_id`` hashes): JSON-ready, defaults filled in."""
        return {
            "backend": self.backend,
            "model": self.model,
            "params": self.params.model_dump(mode="json"),
            "workload": self.workload.model_dump(mode="json"),
            "measurement": self.measurement.model_dump(mode="json"),
            "seed": self.seed,
        }

    @property
    def canonical_config(self) -> str:
        """``config()`` as canonical JSON (keys sorted, no spaces): what ``exp_id`` hashes and the
        manifest stores. Serialised once per experiment, the settings experiments share (workload,
        measurement) once per campaign: the very text ``json.dumps`` gives the whole dict."""
        cached: str | None = self.__dict__.get("_canonical_config")
        if cached is None:
            head, tail = _config_frame(self.backend, self.model, self.measurement, self.seed, self.workload)
            params = _canonical(self.params.model_dump(mode="json"))
            self._remember(head + params + tail, params)
            cached = self.__dict__["_canonical_config"]
        return cached

    @property
    def own_config_json(self) -> str:
        """``config()`` without its workload and measurement, as canonical JSON: what the
        manifest stores per experiment (the settings, shared by most experiments, once each)."""
        params = self.__dict__.get("_params_json")
        if params is None:
            params = _canonical(self.params.model_dump(mode="json"))
        return (
            f'{{"backend":{_json_string(self.backend)},"model":{_json_string(self.model)},'
            f'"params":{params},"seed":{int.__repr__(self.seed)}}}'
        )

    @property
    def workload_json(self) -> str:
        """The workload as canonical JSON (the text inside ``canonical_config``)."""
        return _canonical_settings(self.workload)

    @property
    def measurement_json(self) -> str:
        """The measurement settings as canonical JSON (the text inside ``canonical_config``)."""
        return _canonical_settings(self.measurement)

    @classmethod
    def _expanded(
        cls,
        backend: BackendName,
        model: str,
        params: BackendParams,
        workload: Workload,
        measurement: MeasurementSettings,
        seed: int,
        swept: dict[str, Any],
        config_parts: tuple[str, str, str],
    ) -> Experiment:
        """What ``expand`` makes one of per grid point (100k in a large campaign): the fields
        and the identity (``config_parts``: the frame's head, the params' JSON, its tail) set
        at once, as ``__init__`` would set each field through ``object.__setattr__``."""
        experiment = object.__new__(cls)
        experiment.__dict__.update(
            backend=backend,
            model=model,
            params=params,
            workload=workload,
            measurement=measurement,
            seed=seed,
            swept=swept,
        )
        head, params_json, tail = config_parts
        experiment._remember(head + params_json + tail, params_json)
        return experiment

    def _remember(self, canonical_config: str, params_json: str) -> None:
        """Keep the experiment's canonical config, its params' part and its exp_id (frozen: not
        fields)."""
        self.__dict__["_params_json"] = params_json
        self.__dict__["_canonical_config"] = canonical_config
        self.__dict__["_exp_id"] = hashlib.sha256(canonical_config.encode()).hexdigest()[:EXP_ID_LENGTH]

    @property
    def exp_id(self) -> str:
        """The experiment's identity: a hash of its resolved configuration, computed once."""
        cached: str | None = self.__dict__.get("_exp_id")
        if cached is None:
            self.canonical_config  # noqa: B018 (computes and remembers both)
            cached = self.__dict__["_exp_id"]
        return cached

    def spec(self, campaign: str, cycle: int) -> RunSpec:
        return RunSpec(
            campaign=campaign,
            exp_id=self.exp_id,
            cycle=cycle,
            backend=self.backend,
            model=self.model,
            params=self.params,
            workload=self.workload,
            measurement=self.measurement,
            seed=self.seed,
        )

    def label(self) -> str:
        """A short human name: backend, model and the swept values; a server-mode point's load
        as ``rate=16/s``, ``rate=inf`` or ``concurrency=8``, swept or not."""
        swept = [
            f"{k.removeprefix(WORKLOAD_PREFIX)}={v}" for k, v in self.swept.items() if k not in _LOAD_KEYS
        ]
        return " ".join(filter(None, (self.backend, self.model, load_label(self.workload), *swept)))


_LOAD_KEYS = frozenset({WORKLOAD_PREFIX + "request_rate", WORKLOAD_PREFIX + "concurrency"})


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # json.dumps(…) with these, built once
# The C encoder json.dumps itself runs, made once instead of once a call (no circularity check:
# a config dumped by pydantic has no cycles); the very same text.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # None where _json is not built
_C_CANONICAL = (
    _C_MAKE_ENCODER(
        None, _CANONICAL.default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )
    if _C_MAKE_ENCODER is not None
    else None
)


def _canonical(value: Any) -> str:
    if _C_CANONICAL is None:
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


@functools.lru_cache(maxsize=1024)
def _json_string(text: str) -> str:
    """A backend's or model's name as JSON (a campaign has a few, over many experiments)."""
    return json.dumps(text)


def _config_frame(
    backend: str, model: str, measurement: BaseModel, seed: int, workload: BaseModel
) -> tuple[str, str]:
    """The canonical config's text before and after its params: the keys in sorted order, as
    ``json.dumps(..., sort_keys=True)`` writes them. Shared by every point of a (backend, model,
    workload), so a campaign's expansion builds it once for them."""
    head = (
        f'{{"backend":{_json_string(backend)},'
        f'"measurement":{_canonical_settings(measurement)},'
        f'"model":{_json_string(model)},"params":'
    )
    tail = f',"seed":{int.__repr__(seed)},"workload":{_canonical_settings(workload)}}}'
    return head, tail


_SETTINGS_JSON: dict[int, tuple[BaseModel, str]] = {}  # id → (the model, kept alive; its JSON)
_SETTINGS_JSON_MAX = 1024


def _canonical_settings(settings: BaseModel) -> str:
    """A frozen settings model's canonical JSON, remembered for that very object: the many
    experiments of a campaign share a few workload and measurement objects."""
    known = _SETTINGS_JSON.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    text = _canonical(settings.model_dump(mode="json"))
    if len(_SETTINGS_JSON) >= _SETTINGS_JSON_MAX:
        _SETTINGS_JSON.clear()
    _SETTINGS_JSON[id(settings)] = (settings, text)
    return text


@dataclass(frozen=True)
class RejectedPoint:
    backend: BackendName
    model: str
    point: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Expansion:
    experiments: list[Experiment]
    rejected: list[RejectedPoint]


def _points(axes: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """The grid's points one at a time (the grid itself is never built)."""
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def _reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "is not a parameter of this backend"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


class _WorkloadCache:
    """The campaign's workload with a point's ``workload.*`` values, validated once per distinct
    set of values (most campaigns have a handful over thousands of points)."""

    def __init__(self, base: Workload):
        self._base = base.model_dump()
        self._validated: dict[Hashable, Workload | ValidationError] = {}

    def get(self, overrides: dict[str, Any]) -> Workload:
        key: Hashable = tuple((k, type(v), v) for k, v in overrides.items())
        try:
            hash(key)
        except TypeError:  # a list value (prompts): its JSON
            key = json.dumps(overrides, sort_keys=True, default=repr)
        if key not in self._validated:
            try:
                self._validated[key] = Workload.model_validate({**self._base, **overrides})
            except ValidationError as err:
                self._validated[key] = err
        found = self._validated[key]
        if isinstance(found, ValidationError):
            raise found
        return found


def measurement_for(entry: BackendEntry, campaign: Campaign) -> MeasurementSettings:
    """The campaign's measurement settings, metered by the backend's own power source unless
    the campaign names one (the stub, which has no GPU, by the synthetic source)."""
    if "power_source" in campaign.measurement.model_fields_set:
        return campaign.measurement
    return campaign.measurement.model_copy(update={"power_source": entry.power_source})


def _server_problem(entry: BackendEntry, workload: Workload) -> str | None:
    """Why a server-mode point cannot run: its backend has no server, or it names no load."""
    if workload.mode != "server":
        return None
    if not entry.serves:
        return unserved_reason(entry.name)
    return workload.missing_server_load()


def expand(campaign: Campaign) -> Expansion:
    """All experiments of ``campaign`` in a stable order, plus the grid points rejected."""
    with gc_paused():  # 100k experiments: the collector would rescan them over and over
        return _expand(campaign)


def _expand(campaign: Campaign) -> Expansion:
    experiments: list[Experiment] = []
    rejected: list[RejectedPoint] = []
    seen: set[str] = set()
    workloads = _WorkloadCache(campaign.workload)
    for backend, section in campaign.backends.items():
        entry = backend_entry(backend)
        measurement = measurement_for(entry, campaign)
        axes = {**campaign.grid, **section.grid}  # a backend's own axis overrides the shared one
        swept_workload = any(k.startswith(WORKLOAD_PREFIX) for k in axes)
        # the common case, every axis a backend parameter: one workload for all the points
        shared_workload = None if swept_workload else workloads.get({})
        for model in campaign.models_for(backend):
            frame_workload: Workload | None = None  # the workload ``head`` and ``tail`` are for
            head = tail = ""
            for point in _points(axes):
                workload_overrides: dict[str, Any] = {}
                if shared_workload is None:
                    workload_overrides = {
                        k.removeprefix(WORKLOAD_PREFIX): v
                        for k, v in point.items()
                        if k.startswith(WORKLOAD_PREFIX)
                    }
                    params = {
                        **section.params,
                        **{k: v for k, v in point.items() if not k.startswith(WORKLOAD_PREFIX)},
                    }
                else:
                    params = {**section.params, **point}
                try:
                    parsed = entry.parse_params(params)  # the one full check: cross-field rules too
                    workload = shared_workload or workloads.get(workload_overrides)
                except ValidationError as err:
                    rejected.append(RejectedPoint(backend, model, point, _reason(err)))
                    continue
                server_problem = _server_problem(entry, workload)
                if server_problem is not None:
                    rejected.append(RejectedPoint(backend, model, point, server_problem))
                    continue
                if workload is not frame_workload:
                    frame_workload = workload
                    head, tail = _config_frame(backend, model, measurement, campaign.seed, workload)
                params_json = _canonical(parsed.model_dump(mode="json"))
                experiment = Experiment._expanded(
                    backend,
                    model,
                    parsed,
                    workload,
                    measurement,
                    campaign.seed,
                    point,
                    (head, params_json, tail),
                )
                exp_id = experiment.exp_id
                if exp_id not in seen:  # two spellings of one config run once
                    seen.add(exp_id)
                    experiments.append(experiment)
    return Expansion(experiments, rejected)
