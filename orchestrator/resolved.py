"""The campaign as camp resolves it: the file with its ``-s`` overrides and every default filled
in (``camp plan --resolved``), and the snapshot ``camp run`` keeps beside the results.

The resolved YAML is itself a campaign file that expands to the same experiments (the same
exp_ids): each backend's ``params`` gain the parameters' defaults except those a grid sweeps, and
``measurement.power_source`` stays unset where the file left it so (each backend then keeps its
own: the stub's is ``synthetic``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic_core import PydanticUndefined, to_jsonable_python

from camp_contract.backends import backend_entry
from orchestrator.campaign import Campaign


def resolved_data(campaign: Campaign) -> dict[str, Any]:
    """The campaign as plain data, every default filled in (see the module docstring)."""
    data = campaign.model_dump(mode="json")
    if "power_source" not in campaign.measurement.model_fields_set:
        data["measurement"].pop("power_source", None)
    for name, section in data["backends"].items():
        swept = set(campaign.grid) | set(section.get("grid") or {})
        section["params"] = {**_defaults(name, exclude=swept), **(section.get("params") or {})}
        if section.get("models") is None:
            section.pop("models", None)
    return data


def _defaults(backend: str, exclude: set[str]) -> dict[str, Any]:
    """The backend's parameters' defaults (those it has), as JSON-ready values."""
    out = {}
    for name, field in backend_entry(backend).params.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name not in exclude and default is not PydanticUndefined:
            out[name] = to_jsonable_python(default)
    return out


def resolved_yaml(campaign: Campaign, source: str, overrides: Sequence[str]) -> str:
    """``camp plan --resolved``: a header saying what it was resolved from, then the YAML."""
    given = " ".join(f"-s {o}" for o in overrides)
    header = [f"# {source}{' ' + given if given else ''}, resolved by camp: every default filled in"]
    if "power_source" not in campaign.measurement.model_fields_set:
        own = ", ".join(f"{name} {backend_entry(name).power_source}" for name in campaign.backends)
        header.append(f"# measurement.power_source: unset, so each backend's own ({own})")
    body = yaml.safe_dump(
        resolved_data(campaign), sort_keys=False, allow_unicode=True, default_flow_style=None, width=120
    )
    return "\n".join(header) + "\n" + body


def campaign_snapshot(campaign: Campaign, overrides: Sequence[str]) -> str:
    """campaign.json: the campaign as run (overrides applied) and the ``-s`` overrides given."""
    return json.dumps({**campaign.model_dump(mode="json"), "overrides": list(overrides)}, indent=2)
