"""The campaign's power sources, checked at the host's door against the registry
(camp_contract.power_sources): one clear line for a source that is not registered or not of that
kind, and the stub metered by the synthetic source with any extra source kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from camp_contract.models import MeasurementSettings
from orchestrator.campaign import parse_campaign
from orchestrator.config_errors import ConfigError
from orchestrator.grid import expand

CAMPAIGN = """\
name: t
models: [m]
backends:
  stub: {}
  pytorch: {}
measurement:
  extra_power_sources: [EXTRA]
"""


def problem(extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_campaign(CAMPAIGN.replace("EXTRA", extra), Path("c.yaml"))
    return str(caught.value)


def test_an_unknown_or_misplaced_source_is_one_line_naming_the_field() -> None:
    assert "c.yaml:7: measurement.extra_power_sources.0: unknown extra power source 'rapi' (known: rapl)" in (
        problem("rapi")
    )
    assert "'nvml' is a GPU power source: it belongs in measurement.power_source" in problem("nvml")
    assert "lists 'rapl' twice" in problem("rapl, rapl")


def test_every_backend_meters_the_extra_sources_and_the_stub_its_synthetic_gpu() -> None:
    campaign = parse_campaign(CAMPAIGN.replace("EXTRA", "rapl"), Path("c.yaml"))
    measured = {e.backend: e.measurement for e in expand(campaign).experiments}
    assert measured["stub"].power_source == "synthetic" and measured["pytorch"].power_source == "nvml"
    assert {m.extra_power_sources for m in measured.values()} == {("rapl",)}


def test_the_json_schema_offers_the_registered_names_of_each_role() -> None:
    properties = MeasurementSettings.model_json_schema()["properties"]
    assert properties["power_source"]["enum"] == ["nvml", "synthetic"]
    assert properties["extra_power_sources"]["items"]["enum"] == ["rapl"]
