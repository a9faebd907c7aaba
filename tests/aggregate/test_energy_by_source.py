"""The runs table's per-source columns: each extra power source's joules (``energy_rapl_j``)
and its adjusted joules, typed float even where only some runs metered it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from camp_contract.models import SourceEnergy
from orchestrator import aggregate
from tests.aggregate.helpers import make_spec, write_run
from tests.factories import make_result

RAPL = SourceEnergy(
    role="extra",
    method="counter",
    total_j=70.0,
    per_device={"package-0": 60.0, "dram-0": 10.0},
    baseline_w=20.0,
    adjusted_j=30.0,
)


def test_extra_sources_get_their_own_columns_and_older_runs_leave_them_empty(tmp_path: Path) -> None:
    metered = make_spec("aaaaaaaaaaaa", 0)
    older = make_spec("aaaaaaaaaaaa", 1)
    dirs = [
        write_run(tmp_path, metered, make_result(metered, energy_by_source={"rapl": RAPL})),
        write_run(tmp_path, older, make_result(older)),  # written before sources composed
    ]
    runs = aggregate.runs_table(dirs)
    assert runs["energy_rapl_j"].dtype == "float64" and runs["energy_rapl_adjusted_j"].dtype == "float64"
    assert runs["energy_rapl_j"].iloc[0] == 70.0 and runs["energy_rapl_adjusted_j"].iloc[0] == 30.0
    assert math.isnan(runs["energy_rapl_j"].iloc[1])
    parquet, _ = aggregate.write_tables(runs, tmp_path / "aggregate")
    assert pd.read_parquet(parquet)["energy_rapl_j"].iloc[0] == 70.0
