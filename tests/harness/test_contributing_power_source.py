"""docs/contributing.md's "Adding a power source", followed step by step as written: its module
is written where its entry says the harness finds it, its entry is added to the registry, its
campaign lines are loaded as a campaign, and the stub runs metered by it."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import harness.measurement
from camp_contract.power_sources import POWER_SOURCES, PowerSourceEntry
from harness.run import run_experiment
from orchestrator.aggregate import metric_row
from orchestrator.campaign import parse_campaign
from orchestrator.grid import expand

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "contributing.md"
SECTION = "## Adding a power source"
FAST = {
    "sample_hz": 100,
    "baseline": {"duration_s": 0.1},
    "settle": {"probe_s": 0.1, "poll_s": 0.05, "steady_s": 0.2},
    "warmup": {"min_requests": 2, "max_requests": 4, "window": 2, "cv_threshold": 0.5},
}


def guide_blocks() -> tuple[str, list[tuple[str, str]]]:
    """The section's text and its fenced code blocks as (language, code), in order."""
    text = GUIDE.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return section, re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def documented_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Steps 1 and 2: the module where the entry's factory points, and the entry registered."""
    section, blocks = guide_blocks()
    (module_lang, module_code), (entry_lang, entry_code), _ = blocks
    assert (module_lang, entry_lang) == ("python", "python")
    entries = eval(
        "{" + entry_code + "}", {"PowerSourceEntry": PowerSourceEntry}
    )  # the entry line, as pasted into the dict
    ((name, entry),) = entries.items()
    module, _, _ = entry.factory.partition(":")
    package, _, file_stem = module.rpartition(".")
    assert package == "harness.measurement"
    assert f"`containers/harness/measurement/{file_stem}.py`" in section  # where the guide says it goes
    (tmp_path / f"{file_stem}.py").write_text(module_code)
    monkeypatch.setattr(harness.measurement, "__path__", [*harness.measurement.__path__, str(tmp_path)])
    monkeypatch.setitem(POWER_SOURCES, name, entry)
    yield name
    sys.modules.pop(module, None)


def test_the_guides_power_source_meters_a_whole_run(documented_source: str, tmp_path: Path) -> None:
    _, blocks = guide_blocks()
    campaign_lang, campaign_code = blocks[2]
    assert campaign_lang == "yaml"
    document = {
        "name": "guide",
        "models": ["m"],
        "backends": {"stub": {"params": {"work_ms_per_token": 6.0}}},
    }
    document["measurement"] = {**FAST, **yaml.safe_load(campaign_code)["measurement"]}
    campaign = parse_campaign(yaml.safe_dump(document), tmp_path / "guide.yaml")
    (experiment,) = expand(campaign).experiments
    spec = experiment.spec(campaign.name, 0)
    out = tmp_path / "run"
    result = run_experiment(spec, out)
    metered = result.energy_by_source[documented_source]
    duration = result.metrics.duration_s
    assert metered.role == "extra" and list(metered.per_device) == ["fixed-0"]
    assert metered.total_j == pytest.approx(25.0 * duration, rel=1e-3)
    assert metered.baseline_w == 25.0 and metered.adjusted_j == pytest.approx(0.0, abs=25.0 * duration * 1e-3)
    assert result.energy.counter_j == pytest.approx(160.0 * duration, rel=1e-3)  # the headline, as ever
    assert metric_row(result)[f"energy_{documented_source}_j"] == metered.total_j
    table = pq.read_table(out / "timeseries.parquet").to_pandas()
    assert set(table[table.source == documented_source].device) == {"fixed-0"}
