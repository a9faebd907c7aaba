"""Whatever a campaign file holds, loading it ends in a Campaign or a ConfigError — never a
traceback — and the CLI turns the error into exit code 2."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import cli
from orchestrator.campaign import Campaign, parse_campaign
from orchestrator.config_errors import ConfigError

KEYS = [
    "name",
    "models",
    "backends",
    "grid",
    "workload",
    "cycles",
    "order",
    "gaps",
    "timeout_s",
    "retries",
    "executor",
    "measurement",
    "seed",
    "stub",
    "pytorch",
    "vllm",
    "tensorrt",
    "batch_size",
    "dtype",
    "params",
    "mode",
    "n_requests",
    "prompts",
    "workload.max_output_tokens",
    "sample_hz",
    "baseline",
    "warmup",
    "extra",
    "tensor_parallel_size",
    "bogus",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["stub", "float16", "interleaved", "auto", "m"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    ),
    max_leaves=25,
)


def load(text: str) -> Campaign | ConfigError:
    try:
        return parse_campaign(text, Path("fuzz.yaml"))
    except ConfigError as err:
        assert str(err).startswith("fuzz.yaml")
        return err


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_structured_documents_never_raise_anything_but_config_error(document: object) -> None:
    load(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_config_error(text: str) -> None:
    load(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_cli_plan_exits_0_or_2_never_a_traceback(tmp_path_factory, document: object) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(cli.main, ["plan", str(path)])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


VALID = {
    "name": "f",
    "models": ["m"],
    "backends": {
        "stub": {"grid": {"batch_size": [1, 2]}, "params": {"work_ms_per_token": 0.1}},
        "pytorch": {"grid": {"dtype": ["float16"]}},
    },
    "grid": {"workload.max_output_tokens": [8]},
    "workload": {"n_requests": 2},
    "measurement": {"baseline": {"duration_s": 1}, "warmup": {"max_requests": 2}},
}
PATHS = [
    ("name",),
    ("models",),
    ("backends",),
    ("backends", "stub"),
    ("backends", "stub", "grid"),
    ("backends", "stub", "grid", "batch_size"),
    ("backends", "stub", "params"),
    ("backends", "pytorch", "grid", "dtype"),
    ("backends", "pytorch", "models"),
    ("grid",),
    ("grid", "workload.max_output_tokens"),
    ("workload",),
    ("workload", "n_requests"),
    ("measurement",),
    ("measurement", "baseline", "duration_s"),
    ("measurement", "warmup"),
    ("cycles",),
    ("order",),
]


def mutate(document: dict, path: tuple[str, ...], value: object) -> dict:
    import copy

    out = copy.deepcopy(document)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node[path[-1]] = value
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), documents), min_size=1, max_size=3))
def test_mutated_valid_campaigns_never_raise_anything_but_config_error(mutations) -> None:
    document = VALID
    for path, value in mutations:
        document = mutate(document, path, value)
    outcome = load(yaml.safe_dump(document))
    if isinstance(outcome, Campaign):
        from orchestrator.grid import expand

        expand(outcome)  # expansion of anything that loads must not raise either
