"""The backend registry and the spec typed by it: one entry per backend, a spec whose params are
its backend's model, a discriminated JSON Schema, and plugins registered through CAMP_PLUGINS."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Literal

import pytest
from pydantic import Field, ValidationError

from camp_contract.backends import (
    BackendEntry,
    PluginError,
    backend_entry,
    backend_names,
    load_plugins,
    register_backend,
)
from camp_contract.fingerprint import contract_fingerprint
from camp_contract.models import RunSpec
from camp_contract.params import BackendParams, StubParams, VllmParams
from camp_contract.validation import first_error

FIELDS = {"campaign": "t", "exp_id": "e", "cycle": 0, "model": "m"}


class EchoParams(BackendParams):
    """A backend only these tests know."""

    voice: Literal["loud", "soft"] = "soft"
    repeats: int = Field(default=1, ge=1)


ECHO = BackendEntry(
    name="echo",
    params=EchoParams,
    implementation="tests.nowhere:Echo",
    needs_gpu=False,
    power_source="synthetic",
    loads_model=False,
)


def test_a_spec_is_its_backends_own_type_with_typed_params_and_the_same_json() -> None:
    spec = RunSpec(**FIELDS, backend="vllm", params={"max_num_seqs": 8})
    assert isinstance(spec, RunSpec) and type(spec).__name__ == "VllmRunSpec"
    assert spec.params == VllmParams(max_num_seqs=8)
    written = json.loads(spec.model_dump_json())
    assert list(written) == [
        "schema_version",
        "campaign",
        "exp_id",
        "cycle",
        "backend",
        "model",
        "params",
        "workload",
        "measurement",
        "seed",
    ]
    assert written["backend"] == "vllm" and written["params"] == VllmParams(max_num_seqs=8).model_dump(
        mode="json"
    )
    assert RunSpec.model_validate_json(spec.model_dump_json()) == spec
    assert RunSpec.model_validate(written) == spec
    assert RunSpec(**FIELDS, backend="stub").params == StubParams()  # defaults filled in


def test_params_problems_are_located_in_the_spec_and_a_backend_must_be_registered() -> None:
    with pytest.raises(ValidationError) as caught:
        RunSpec.model_validate({**FIELDS, "backend": "stub", "params": {"batch_size": 0, "fualt": "crash"}})
    assert (
        first_error(caught.value)
        == "params.batch_size: Input should be greater than or equal to 1 (and 1 more)"
    )
    with pytest.raises(ValidationError) as caught:
        RunSpec(**FIELDS, backend="stubb")
    assert first_error(caught.value).startswith("backend: unknown backend 'stubb' — did you mean 'stub'?")
    with pytest.raises(ValidationError) as caught:
        RunSpec.model_validate({"campaign": "t", "backend": "nope"})
    assert first_error(caught.value) == "exp_id: Field required (and 3 more)"  # every problem counted


def test_the_spec_schema_is_a_union_discriminated_on_backend() -> None:
    schema = RunSpec.model_json_schema()
    assert schema["discriminator"]["propertyName"] == "backend"
    assert sorted(schema["discriminator"]["mapping"]) == sorted(backend_names())
    stub = schema["$defs"]["StubRunSpec"]
    assert stub["properties"]["backend"]["const"] == "stub"
    assert stub["properties"]["params"]["$ref"] == "#/$defs/StubParams"


def test_the_stub_is_an_entry_like_any_other() -> None:
    stub = backend_entry("stub")
    assert (stub.needs_gpu, stub.power_source, stub.loads_model, stub.compose_service) == (
        False,
        "synthetic",
        False,
        "stub",
    )
    assert backend_entry("vllm").frameworks == ("vllm",) and backend_entry("vllm").needs_gpu


def test_a_registered_backend_is_validated_and_in_the_schemas(backend_registry: ModuleType) -> None:
    stub_fingerprint, everything = contract_fingerprint("stub"), contract_fingerprint()
    register_backend(ECHO)
    register_backend(ECHO)  # a plugin imported twice changes nothing
    spec = RunSpec(**FIELDS, backend="echo", params={"voice": "loud"})
    assert spec.params == EchoParams(voice="loud")
    assert "echo" in RunSpec.model_json_schema()["discriminator"]["mapping"]
    # an image of the stub need not know the host's plugins; the whole contract does change
    assert contract_fingerprint("stub") == stub_fingerprint and contract_fingerprint() != everything
    with pytest.raises(ValueError, match="registered already"):
        register_backend(BackendEntry(name="echo", params=EchoParams, implementation="other:Echo"))


def test_entries_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="must match"):
        BackendEntry(name="Echo Two", params=EchoParams, implementation="m:C")
    with pytest.raises(TypeError, match="BackendParams subclass"):
        BackendEntry(name="echo", params=dict, implementation="m:C")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="module:Class"):
        BackendEntry(name="echo", params=EchoParams, implementation="m.C")


def test_plugins_named_in_camp_plugins_register_their_backends(
    backend_registry: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "camp_echo_plugin.py").write_text(
        "from camp_contract.backends import register_backend\n"
        "from tests.contract.test_backend_registry import ECHO\n"
        "register_backend(ECHO)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CAMP_PLUGINS", "camp_echo_plugin")
    assert backend_entry("echo") == ECHO  # imported on the registry's first read
    with pytest.raises(PluginError, match=r"CAMP_PLUGINS names 'camp_no_such_plugin'.*ModuleNotFoundError"):
        load_plugins({"CAMP_PLUGINS": "camp_echo_plugin, camp_no_such_plugin"})
    monkeypatch.delitem(sys.modules, "camp_echo_plugin")


def test_the_harness_names_a_plugin_it_cannot_import_and_prints_one_backends_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    assert CliRunner().invoke(main, ["contract", "--backend", "stub"]).output == (
        contract_fingerprint("stub") + "\n"
    )
    assert "unknown backend 'stubb'" in CliRunner().invoke(main, ["contract", "--backend", "stubb"]).output
    monkeypatch.setenv("CAMP_PLUGINS", "camp_no_such_plugin")
    broken = CliRunner().invoke(main, ["contract"])
    assert broken.exit_code == 2 and "CAMP_PLUGINS names 'camp_no_such_plugin'" in broken.output
