"""Reading a campaign's runs: each spec validated once per experiment, not once per run, without
ever taking an invalid spec for a valid one; the garbage collector paused while runs are read."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camp_contract import layout
from camp_contract.models import RunSpec
from orchestrator import aggregate
from tests.aggregate.helpers import write_experiment

REPO = Path(__file__).resolve().parents[2]


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    validate = RunSpec.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[RunSpec], data: object, *args: object, **kwargs: object) -> RunSpec:
        seen.append(data)
        return validate(cls, data, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(RunSpec, "model_validate", classmethod(counting))
    return seen


def test_the_cycles_of_one_experiment_validate_its_spec_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0, 12.0, 13.0], batch_size=2)
    dirs += write_experiment(tmp_path, "b", [20.0, 21.0], batch_size=4)
    validated = _count_validations(monkeypatch)
    runs = aggregate.runs_table(dirs)
    assert len(validated) == 2  # one per experiment
    assert list(zip(runs["exp_id"], runs["cycle"], strict=True)) == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 0),
        ("b", 1),
    ]
    assert runs["params.batch_size"].tolist() == [2, 2, 2, 2, 4, 4]


def test_a_cycle_whose_spec_differs_is_validated_in_full(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0, 12.0], batch_size=2)
    spec_path = layout.RunFiles(dirs[2]).spec
    spec = json.loads(spec_path.read_text())
    spec["params"]["batch_size"] = -1  # not a batch size: must not pass as the first cycle's spec
    spec_path.write_text(json.dumps(spec))
    tables = aggregate.aggregate_runs(dirs)
    assert len(tables.runs) == 2
    (problem,) = tables.unreadable
    assert "c2/spec.json: invalid RunSpec" in problem and "batch_size" in problem


@pytest.mark.parametrize("cycle", [-1, True, "1", None])
def test_a_cycle_that_is_not_a_cycle_number_is_validated_in_full(tmp_path: Path, cycle: object) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0], batch_size=2)
    spec_path = layout.RunFiles(dirs[1]).spec
    spec = json.loads(spec_path.read_text())
    spec["cycle"] = cycle
    spec_path.write_text(json.dumps(spec))
    tables = aggregate.aggregate_runs(dirs)
    # validated in full: refused, or ("1" read as 1 by the model, as before) matched to its result
    assert len(tables.runs) + len(tables.unreadable) == 2
    if tables.unreadable:
        assert "c1/spec.json" in tables.unreadable[0]


def test_a_spec_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0], batch_size=2)
    layout.RunFiles(dirs[1]).spec.write_text("{not json")
    (problem,) = aggregate.aggregate_runs(dirs).unreadable
    assert "c1/spec.json: invalid RunSpec" in problem and "`camp run` again redoes that run" in problem


def test_the_collector_is_paused_while_runs_are_read_and_restored_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0], batch_size=2)
    read = aggregate.load_run
    states: list[bool] = []

    def watching(run_dir: Path, specs: aggregate.SpecCache | None = None) -> aggregate.LoadedRun:
        states.append(gc.isenabled())
        return read(run_dir, specs)

    monkeypatch.setattr(aggregate, "load_run", watching)
    assert gc.isenabled()
    aggregate.aggregate_runs(dirs)
    assert states == [False, False] and gc.isenabled()
    gc.disable()
    try:
        aggregate.aggregate_runs(dirs)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_the_tables_and_the_report_import_no_scipy_stats() -> None:
    """scipy.stats costs ~0.4 s to import; the t quantile comes from scipy.special."""
    code = (
        "import sys, orchestrator.aggregate, orchestrator.grouping, orchestrator.report; "
        "print(sorted(m for m in sys.modules if m.startswith('scipy.stats')))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "containers"), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=REPO
    )
    assert out.stdout.strip() == "[]"
