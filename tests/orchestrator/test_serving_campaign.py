"""A server-mode campaign on the host: the load it must name, inf rates, backends that cannot
serve, labels, the SLO (host only) and what ``camp plan`` says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from camp_contract.models import RunSpec
from orchestrator import cli
from orchestrator.campaign import Campaign, parse_campaign
from orchestrator.config_errors import ConfigError
from orchestrator.grid import expand

SERVING = """
name: serving
models: [m]
backends: {stub: {}, pytorch: {}}
workload: {mode: server, arrival: poisson, duration_s: 120}
grid: {workload.request_rate: [1, 4, 16, inf]}
slo: {ttft_p90_s: 0.5, tpot_p90_s: 0.05}
"""


def _parse(text: str) -> Campaign:
    return parse_campaign(text, Path("serving.yaml"))


def test_yaml_inf_is_an_infinite_rate_written_infinity_in_the_spec() -> None:
    expansion = expand(parse_campaign(SERVING, Path("c.yaml")))
    rates = [e.workload.request_rate for e in expansion.experiments]
    assert rates[:3] == [1.0, 4.0, 16.0] and rates[3] is not None and math.isinf(rates[3])
    spec_json = expansion.experiments[3].spec("serving", 0).model_dump_json()
    assert '"request_rate":"Infinity"' in spec_json
    assert RunSpec.model_validate_json(spec_json).workload.request_rate == math.inf


def test_inf_given_in_the_workload_itself_validates_too() -> None:
    text = SERVING.replace("duration_s: 120}", "duration_s: 120, request_rate: inf}").replace(
        "grid: {workload.request_rate: [1, 4, 16, inf]}\n", ""
    )
    (experiment,) = expand(parse_campaign(text, Path("c.yaml"))).experiments
    assert experiment.workload.request_rate == math.inf
    assert experiment.label() == "stub m rate=inf"


def test_labels_show_the_rate_or_the_concurrency() -> None:
    labels = [e.label() for e in expand(parse_campaign(SERVING, Path("c.yaml"))).experiments]
    assert labels == ["stub m rate=1/s", "stub m rate=4/s", "stub m rate=16/s", "stub m rate=inf"]
    text = SERVING.replace("arrival: poisson, ", "").replace(
        "workload.request_rate: [1, 4, 16, inf]", "workload.concurrency: [1, 8]"
    )
    labels = [e.label() for e in expand(parse_campaign(text, Path("c.yaml"))).experiments]
    assert labels == ["stub m concurrency=1", "stub m concurrency=8"]


def test_a_backend_without_a_server_has_its_points_rejected_with_the_reason() -> None:
    expansion = expand(parse_campaign(SERVING, Path("c.yaml")))
    assert {e.backend for e in expansion.experiments} == {"stub"}
    assert len(expansion.rejected) == 4
    assert all(r.backend == "pytorch" for r in expansion.rejected)
    assert expansion.rejected[0].reason.startswith("pytorch has no server in camp; ")
    assert "stub, vllm, tensorrt" in expansion.rejected[0].reason


@pytest.mark.parametrize(
    ("workload", "grid"),
    [
        ("{mode: server, duration_s: 5}", "{workload.max_output_tokens: [4, 8]}"),
        ("{mode: server, arrival: concurrency}", "{}"),
        ("{mode: server}", "{}"),
    ],
)
def test_a_server_campaign_naming_no_load_is_an_error_of_the_file(workload: str, grid: str) -> None:
    text = f"name: s\nmodels: [m]\nbackends: {{stub: {{}}}}\nworkload: {workload}\ngrid: {grid}\n"
    with pytest.raises(ConfigError) as err:
        _parse(text)
    message = str(err.value)
    assert "serving.yaml:4: workload: workload." in message
    assert "grid: {workload.request_rate: [1, 4, 16, inf]}" in message  # the fix


def test_a_load_swept_in_a_backends_own_grid_is_enough_for_that_backend_only() -> None:
    base = "name: s\nmodels: [m]\nworkload: {mode: server}\n"
    ok = base + "backends: {stub: {grid: {workload.request_rate: [2]}}}\n"
    assert [e.label() for e in expand(_parse(ok)).experiments] == ["stub m rate=2/s"]
    with pytest.raises(ConfigError, match=r"needs workload\.request_rate"):
        _parse(base + "backends: {stub: {grid: {workload.request_rate: [2]}}, vllm: {}}\n")


def test_a_dotted_inf_is_refused_with_the_spelling_that_works() -> None:
    expected = r"\.inf is not a finite number — for the saturation point write inf"
    with pytest.raises(ConfigError, match=expected):
        _parse(SERVING.replace("16, inf]", "16, .inf]"))


def test_the_slo_is_host_only_changing_it_keeps_every_exp_id() -> None:
    campaign = parse_campaign(SERVING, Path("c.yaml"))
    assert campaign.slo is not None and (campaign.slo.ttft_p90_s, campaign.slo.tpot_p90_s) == (0.5, 0.05)
    other = parse_campaign(SERVING.replace("ttft_p90_s: 0.5", "ttft_p90_s: 2"), Path("c.yaml"))
    none = parse_campaign(SERVING.replace("slo: {ttft_p90_s: 0.5, tpot_p90_s: 0.05}\n", ""), Path("c.yaml"))
    ids = [[e.exp_id for e in expand(c).experiments] for c in (campaign, other, none)]
    assert ids[0] == ids[1] == ids[2]
    assert "slo" not in expand(campaign).experiments[0].spec("serving", 0).model_dump_json()


@pytest.mark.parametrize(
    ("slo", "expected"),
    [
        ("{}", "slo: an slo names ttft_p90_s, tpot_p90_s or both"),
        ("{ttft_p90_s: 0}", "slo.ttft_p90_s: Input should be greater than 0"),
        ("{ttft_p90: 1}", "did you mean 'ttft_p90_s'"),
    ],
)
def test_a_bad_slo_is_named_with_its_field(slo: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _parse(SERVING.replace("{ttft_p90_s: 0.5, tpot_p90_s: 0.05}", slo))


def test_an_offline_campaign_plans_as_before_and_names_no_server() -> None:
    text = "name: s\nmodels: [m]\nbackends: {stub: {}, pytorch: {}}\n"
    expansion = expand(_parse(text))
    assert [e.label() for e in expansion.experiments] == ["stub m", "pytorch m"]
    assert not expansion.rejected


def test_plan_shows_the_server_settings_the_loads_and_the_slo(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text(SERVING)
    result = CliRunner().invoke(cli.main, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "server mode: open loop, poisson arrivals; warmup 10 s (not measured), then a measured " in out
    assert "window of 120 s" in out
    assert "loads swept: 1/s, 4/s, 16/s, inf" in out
    assert "rate inf: the saturation point, 8 requests (n_requests) sent at once" in out
    assert "SLO: TTFT ≤ 0.5 s and TPOT ≤ 0.05 s for 90% of requests" in out
    assert "stub m rate=16/s" in out
    assert "pytorch m workload.request_rate=1: pytorch has no server in camp" in out
