"""The HTML report as a researcher opens it: a real headless Chromium on the file:// page of a
finished synthetic campaign — it renders, its images load, the trace viewer switches runs, and
the console stays clean. Required in CI (CAMP_REQUIRE_BROWSER=1): fails there, never skips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from camp_contract.layout import TIMESERIES_FILENAME
from orchestrator.report import write_report
from tests.aggregate.helpers import add_warnings, write_experiment

pytestmark = pytest.mark.browser
TIMEOUT_S = 10


def _done_campaign(root: Path) -> Path:
    """Six experiments (batch size × dtype), three cycles each, every run with a two-GPU trace of
    power, temperature and clock; one run warned."""
    campaign = root / "demo"
    rng = np.random.default_rng(1)
    for batch in (1, 4, 16):
        for dtype, factor in (("float16", 1.0), ("float32", 1.7)):
            dirs = write_experiment(
                campaign,
                f"b{batch}{dtype}",
                list(factor * 60 / batch + 5 + rng.normal(0, 0.5, 3)),
                duration_s=4.0 / batch,
                latencies=[0.1 * batch, 0.12 * batch],
                backend="pytorch",
                batch_size=batch,
                dtype=dtype,
            )
            for cycle, run_dir in enumerate(dirs):
                t = np.arange(0, 6, 0.05)
                busy = t < 4.0 / batch
                frames = [
                    pd.DataFrame(
                        {
                            "t_s": t,
                            "device": f"GPU-{gpu}",
                            "power_w": np.where(busy, 30.0 + 5 * gpu + cycle, 2.0),
                            "temperature_c": 40 + 10 * busy + gpu,
                            "sm_clock_mhz": np.where(busy, 1800.0, 300.0),
                        }
                    )
                    for gpu in (0, 1)
                ]
                pd.concat(frames).to_parquet(run_dir / TIMESERIES_FILENAME)
    add_warnings(campaign / "b4float16" / "c1", "throttled")
    return campaign


def test_the_report_renders_loads_its_images_and_switches_traces_without_console_errors(
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.browser.chrome import chrome

    index = write_report(_done_campaign(tmp_path), by=[["batch_size", "dtype"]])
    with chrome() as driver:
        driver.get(index.as_uri())
        assert driver.title == "camp report — demo"
        for selector in ("table", "table.pareto", "table.by", "#trace-viewer select", "p.methods"):
            assert driver.find_elements("css selector", selector), selector
        images = driver.find_elements("css selector", "img")
        assert len(images) >= 4  # energy vs batch size and dtype, the two Pareto plots
        WebDriverWait(driver, TIMEOUT_S).until(
            lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
        )
        widths = driver.execute_script("return [...document.images].map(i => [i.src, i.naturalWidth])")
        assert all(width > 0 for _, width in widths), widths

        plot = driver.find_element("css selector", "#trace-viewer .trace-plot")
        select = Select(driver.find_element("css selector", "#trace-viewer select"))
        first = select.first_selected_option.get_attribute("value")
        WebDriverWait(driver, TIMEOUT_S).until(lambda d: plot.get_attribute("data-key") == first)
        drawn = [p.get_attribute("d") for p in plot.find_elements("css selector", "path.series")]
        assert len(drawn) == 6  # two GPUs × power, temperature, clock
        other = next(o.get_attribute("value") for o in select.options if o.get_attribute("value") != first)
        select.select_by_value(other)
        WebDriverWait(driver, TIMEOUT_S).until(lambda d: plot.get_attribute("data-key") == other)
        switched = [p.get_attribute("d") for p in plot.find_elements("css selector", "path.series")]
        assert switched != drawn
        assert other in driver.find_element("css selector", "#trace-viewer .trace-status").text.replace(
            " c", "/c"
        )

        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
