"""Expanding a campaign into experiments: backends × models × (shared grid × backend grid).

Each grid point is validated against its backend's parameter schema; a point the backend cannot
take is kept as a ``RejectedPoint`` with the reason, so ``camp plan`` can show it and ``camp run``
skips it instead of failing hours later inside a container.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from camp_contract.backends import BackendEntry, backend_entry
from camp_contract.models import BackendName, MeasurementSettings, RunSpec, Workload
from camp_contract.params import BackendParams
from orchestrator.campaign import WORKLOAD_PREFIX, Campaign
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
    def exp_id(self) -> str:
        canonical = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:EXP_ID_LENGTH]

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
        load_keys = {WORKLOAD_PREFIX + "request_rate", WORKLOAD_PREFIX + "concurrency"}
        swept = [
            f"{k.removeprefix(WORKLOAD_PREFIX)}={v}" for k, v in self.swept.items() if k not in load_keys
        ]
        parts = (self.backend, self.model, load_label(self.workload), *swept)
        return " ".join(part for part in parts if part)


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


def _points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(axes[k] for k in keys))]


def _reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "is not a parameter of this backend"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


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
    experiments: list[Experiment] = []
    rejected: list[RejectedPoint] = []
    seen: set[str] = set()
    for backend, section in campaign.backends.items():
        entry = backend_entry(backend)
        measurement = measurement_for(entry, campaign)
        axes = {**campaign.grid, **section.grid}  # a backend's own axis overrides the shared one
        for model in campaign.models_for(backend):
            for point in _points(axes):
                workload_overrides = {
                    k.removeprefix(WORKLOAD_PREFIX): v
                    for k, v in point.items()
                    if k.startswith(WORKLOAD_PREFIX)
                }
                params = {
                    **section.params,
                    **{k: v for k, v in point.items() if not k.startswith(WORKLOAD_PREFIX)},
                }
                try:
                    parsed = entry.parse_params(params)  # the one full check: cross-field rules too
                    workload = Workload.model_validate(
                        {**campaign.workload.model_dump(), **workload_overrides}
                    )
                except ValidationError as err:
                    rejected.append(RejectedPoint(backend, model, point, _reason(err)))
                    continue
                server_problem = _server_problem(entry, workload)
                if server_problem is not None:
                    rejected.append(RejectedPoint(backend, model, point, server_problem))
                    continue
                experiment = Experiment(
                    backend=backend,
                    model=model,
                    params=parsed,
                    workload=workload,
                    measurement=measurement,
                    seed=campaign.seed,
                    swept=point,
                )
                if experiment.exp_id not in seen:  # two spellings of one config run once
                    seen.add(experiment.exp_id)
                    experiments.append(experiment)
    return Expansion(experiments, rejected)
