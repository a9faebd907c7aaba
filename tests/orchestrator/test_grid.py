from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camp_contract.backends import BackendEntry, register_backend
from camp_contract.params import StubParams
from orchestrator.campaign import parse_campaign
from orchestrator.grid import Experiment, _canonical, expand
from orchestrator.schedule import schedule

CAMPAIGN = """
name: t
models: [m1, m2]
backends:
  stub: {grid: {batch_size: [1, 4]}}
  pytorch:
    grid: {dtype: [float32, bfloat16]}
    params: {attn_implementation: flash_attention_2}
grid: {workload.max_output_tokens: [8, 16]}
"""


def test_expansion_is_the_cartesian_product_per_backend_and_model() -> None:
    expansion = expand(parse_campaign(CAMPAIGN, Path("c.yaml")))
    stub = [e for e in expansion.experiments if e.backend == "stub"]
    torch = [e for e in expansion.experiments if e.backend == "pytorch"]
    assert len(stub) == 2 * 2 * 2  # models × batch sizes × output lengths
    assert len(torch) == 2 * 1 * 2  # float32 is rejected with flash_attention_2
    assert {e.workload.max_output_tokens for e in stub} == {8, 16}
    assert all(e.measurement.power_source == "synthetic" for e in stub)
    assert all(e.measurement.power_source == "nvml" for e in torch)


def test_points_a_backend_cannot_take_are_rejected_with_the_reason() -> None:
    expansion = expand(parse_campaign(CAMPAIGN, Path("c.yaml")))
    assert len(expansion.rejected) == 2 * 2
    assert all("flash_attention_2 needs dtype" in r.reason for r in expansion.rejected)
    assert all(r.point["dtype"] == "float32" for r in expansion.rejected)


def test_shared_key_unknown_to_one_backend_rejects_only_its_points() -> None:
    text = "name: t\nmodels: [m]\nbackends: {stub: {}, vllm: {}}\ngrid: {batch_size: [2]}\n"
    expansion = expand(parse_campaign(text, Path("c.yaml")))
    assert [e.backend for e in expansion.experiments] == ["stub"]
    assert expansion.rejected[0].backend == "vllm"
    assert "batch_size" in expansion.rejected[0].reason and "not a parameter" in expansion.rejected[0].reason


def test_exp_id_is_stable_and_sensitive_to_every_config_field() -> None:
    first = expand(parse_campaign(CAMPAIGN, Path("c.yaml"))).experiments
    again = expand(parse_campaign(CAMPAIGN, Path("other.yaml"))).experiments
    assert [e.exp_id for e in first] == [e.exp_id for e in again]
    assert len({e.exp_id for e in first}) == len(first)
    changed = expand(parse_campaign(CAMPAIGN + "measurement: {sample_hz: 20}\n", Path("c.yaml"))).experiments
    assert not {e.exp_id for e in first} & {e.exp_id for e in changed}
    # a value equal to the default resolves to the same experiment
    explicit = expand(parse_campaign(CAMPAIGN + "workload: {n_requests: 8}\n", Path("c.yaml"))).experiments
    assert [e.exp_id for e in explicit] == [e.exp_id for e in first]


def test_spec_carries_the_resolved_config() -> None:
    exp = expand(parse_campaign(CAMPAIGN, Path("c.yaml"))).experiments[0]
    spec = exp.spec("t", 2)
    assert (spec.exp_id, spec.cycle, spec.backend, spec.model) == (exp.exp_id, 2, "stub", "m1")
    assert spec.params == StubParams()  # typed by the backend, defaults filled in


def test_schedule_orders() -> None:
    ids = ["a", "b", "c"]
    assert schedule(ids, 2, "interleaved") == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1)]
    assert schedule(ids, 2, "grouped") == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    shuffled = schedule(ids, 3, "shuffled", seed=1)
    assert shuffled == schedule(ids, 3, "shuffled", seed=1)
    assert sorted(shuffled) == sorted(schedule(ids, 3, "grouped"))
    assert [c for _, c in shuffled] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # cycles stay blocks


def test_a_backend_is_metered_by_its_entrys_source_unless_the_campaign_names_one(
    backend_registry: ModuleType,
) -> None:
    register_backend(
        BackendEntry(name="cpu-only", params=StubParams, implementation="m:C", power_source="synthetic")
    )
    text = "name: t\nmodels: [m]\nbackends: {cpu-only: {}, vllm: {}}\n"
    by_backend = {e.backend: e for e in expand(parse_campaign(text, Path("c.yaml"))).experiments}
    assert by_backend["cpu-only"].measurement.power_source == "synthetic"
    assert by_backend["vllm"].measurement.power_source == "nvml"
    named = expand(parse_campaign(text + "measurement: {power_source: nvml}\n", Path("c.yaml"))).experiments
    assert {e.measurement.power_source for e in named} == {"nvml"}


GOLDEN = """
name: golden
models: [org/model@v1]
backends:
  stub: {params: {work_ms_per_token: 3}, grid: {batch_size: [1, 4]}}
  pytorch: {params: {dtype: bfloat16}, grid: {batch_size: [8]}}
  vllm: {params: {max_num_seqs: 32, extra: {swap_space: 4}}}
  tensorrt: {grid: {max_batch_size: [16]}}
grid: {workload.max_output_tokens: [16, 32]}
measurement: {sample_hz: 20}
"""


def test_exp_ids_are_those_camp_gave_before_parameters_were_typed() -> None:
    # computed with camp as it was before the backend registry: a resumed campaign finds its runs
    assert [e.exp_id for e in expand(parse_campaign(GOLDEN, Path("c.yaml"))).experiments] == [
        "9ded2cb3328e",
        "eae96850d251",
        "04ebac09ee97",
        "1e2d6ae2a800",
        "8b97e3979680",
        "d3aebe8de4db",
        "dd3c4ce4026f",
        "4ce98bd70554",
        "f0d9aa9e69b0",
        "82f0dbc185d8",
    ]


def test_canonical_config_is_the_sorted_compact_json_of_the_config() -> None:
    text = """
name: t
models: [m1, m2]
backends:
  stub: {grid: {batch_size: [1, 4], work_ms_per_token: [0.1, 2.5e-05, 100]}}
  pytorch: {grid: {dtype: [bfloat16]}}
  vllm: {params: {extra: {enforce_eager: true, tag: é}}}
grid: {workload.max_output_tokens: [8, 16]}
workload: {prompts: [héllo, 'a "quoted" one']}
measurement: {extra_power_sources: [rapl]}
seed: 7
"""
    experiments = expand(parse_campaign(text, Path("c.yaml"))).experiments
    assert {e.backend for e in experiments} == {"stub", "pytorch", "vllm"}
    for experiment in experiments:
        whole = json.dumps(experiment.config(), sort_keys=True, separators=(",", ":"))
        assert experiment.canonical_config == whole
        assert experiment.exp_id == hashlib.sha256(whole.encode()).hexdigest()[:12]


def test_an_experiments_identity_is_serialised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = expand(parse_campaign(CAMPAIGN, Path("c.yaml"))).experiments[0]
    dumps = []
    real = StubParams.model_dump

    def counted(self: StubParams, **kwargs: object) -> dict[str, object]:
        dumps.append(kwargs)
        return real(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StubParams, "model_dump", counted)
    fresh = dataclasses.replace(experiment)  # nothing remembered yet
    assert {fresh.exp_id for _ in range(5)} == {experiment.exp_id}
    assert len(dumps) == 1


def test_a_workload_axis_gives_each_point_its_own_workload() -> None:
    text = "name: t\nmodels: [m]\nbackends: {stub: {grid: {batch_size: [1, 2]}}}\n"
    text += "grid: {workload.max_output_tokens: [8, 16]}\nworkload: {n_requests: 3}\n"
    expansion = expand(parse_campaign(text, Path("c.yaml")))
    assert sorted((e.params.batch_size, e.workload.max_output_tokens) for e in expansion.experiments) == [  # type: ignore[attr-defined]
        (1, 8),
        (1, 16),
        (2, 8),
        (2, 16),
    ]
    assert {e.workload.n_requests for e in expansion.experiments} == {3}


def test_an_expanded_experiment_is_the_one_its_fields_make() -> None:
    """expand builds experiments without __init__ (100k of them): the same fields, equal and
    with the same identity as one made the ordinary way."""
    for expanded in expand(parse_campaign(CAMPAIGN, Path("c.yaml"))).experiments:
        fields = {f.name: getattr(expanded, f.name) for f in dataclasses.fields(Experiment)}
        ordinary = Experiment(**fields)
        assert ordinary == expanded and ordinary.swept == expanded.swept
        assert (ordinary.exp_id, ordinary.canonical_config) == (expanded.exp_id, expanded.canonical_config)
        assert ordinary.own_config_json == expanded.own_config_json


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_the_canonical_encoder_writes_what_json_dumps_writes(value: object) -> None:
    """exp_ids hash this text: the encoder made once must write exactly json.dumps' text."""
    assert _canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))
