"""Preflight reports every problem at once, before anything is measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from camp_contract.atomic import atomic_write_text
from camp_contract.failure import read_failure
from camp_contract.layout import ERROR_FILENAME
from camp_contract.models import MeasurementSettings, RunSpec
from harness.measurement import nvml
from harness.preflight import find_problems
from harness.run import RunError, run_experiment
from tests.harness.fake_nvml import FakeNvml


def spec(backend: str = "stub", model: str = "m", power_source: str = "synthetic") -> RunSpec:
    return RunSpec.model_validate(
        {
            "campaign": "t",
            "exp_id": "e",
            "cycle": 0,
            "backend": backend,
            "model": model,
            "measurement": MeasurementSettings.model_validate({"power_source": power_source}),
        }
    )


def test_a_sound_spec_has_no_problems(tmp_path: Path) -> None:
    assert find_problems(spec(), tmp_path) == []
    assert find_problems(spec("pytorch", "tiny-random:gpt2"), tmp_path / "not" / "yet" / "made") == []
    assert find_problems(spec("pytorch", str(tmp_path)), tmp_path) == []  # a local checkpoint that exists


def test_every_problem_is_reported_together_and_nothing_is_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoDriver(FakeNvml):
        def nvmlInit(self) -> None:
            raise self.NVMLError("Driver Not Loaded")

    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    bad = spec("vllm", "/models/missing-checkpoint", power_source="nvml")
    with pytest.raises(RunError) as caught:
        run_experiment(bad, tmp_path / "run", results_root=tmp_path)
    reason = str(caught.value)
    assert reason.startswith("preflight: ")
    assert "backend vllm needs the 'vllm' package, which this image lacks" in reason
    assert "model path /models/missing-checkpoint does not exist here" in reason
    assert "NVML power source unavailable: Driver Not Loaded" in reason
    assert list(tmp_path.iterdir()) == []  # no baseline cache, no run dir: nothing was measured


def test_an_unwritable_run_dir_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root (as here) may write anywhere, so the kernel's answer is stood in for
    from harness import preflight

    monkeypatch.setattr(preflight.os, "access", lambda path, mode: Path(path) != tmp_path)
    problems = find_problems(spec(), tmp_path / "c0")
    assert problems == [f"cannot write the result into {tmp_path / 'c0'} ({tmp_path} is not writable)"]


def test_the_cli_prints_the_preflight_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t" / "e" / "c0" / "spec.json"
    atomic_write_text(path, spec("tensorrt", "./nowhere").model_dump_json())
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "camp-harness: run failed: preflight: backend tensorrt needs" in done.stderr
    assert "model path ./nowhere does not exist here" in done.stderr
    failure = read_failure(path.parent / ERROR_FILENAME)  # the same, for the host
    assert failure is not None and (failure.exp_id, failure.cycle, failure.stage) == ("e", 0, "preflight")
    assert failure.error_type == "PreflightError"
    assert failure.message.startswith("backend tensorrt needs the 'tensorrt_llm' package")
    assert failure.message.endswith("model path ./nowhere does not exist here (is its directory mounted?)")
