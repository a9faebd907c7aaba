"""The HTML report as a researcher opens it: a real headless Chromium on the file:// page of a
finished synthetic campaign — it renders, its images load, the trace viewer switches runs, and
the console stays clean; likewise the serving section of a synthetic load sweep. Required in CI
(CAMP_REQUIRE_BROWSER=1): fails there, never skips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from camp_contract.layout import TIMESERIES_FILENAME
from orchestrator import aggregate, slo
from orchestrator.report import write_report
from tests.aggregate.helpers import add_warnings, write_experiment
from tests.aggregate.serving_helpers import write_load_sweep

pytestmark = pytest.mark.browser
TIMEOUT_S = 10
SLO = slo.ServiceLevel(ttft_p90_s=0.5, tpot_p90_s=0.05)


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


def test_the_serving_section_renders_with_its_load_sweep_images_and_no_console_errors(
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser.chrome import chrome

    campaign = tmp_path / "serving"
    write_load_sweep(campaign, [1.0, 4.0, 16.0, math.inf], cycles=3)
    index = write_report(campaign, aggregate.aggregate_campaign(campaign, service_level=SLO))
    with chrome() as driver:
        driver.get(index.as_uri())
        section = driver.find_element("css selector", "h2#serving")
        assert section.text == "Serving: energy and latency against load"
        WebDriverWait(driver, TIMEOUT_S).until(
            lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
        )
        images = driver.execute_script(
            "return [...document.images].map(i => [i.src.split('/').pop(), i.naturalWidth, i.naturalHeight])"
        )
        assert all(width > 0 and height > 0 for _, width, height in images), images
        names = sorted(name for name, _, _ in images if name.startswith("serving_"))
        assert names == [
            "serving_energy_per_request.png",
            "serving_goodput.png",
            "serving_tpot_p90.png",
            "serving_ttft_p90.png",
        ]
        page = driver.find_element("tag name", "body").text
        assert "knee at rate=4/s" in page  # the knee, and the load as every label writes it
        assert "inf: saturated, n_requests kept in flight" in page
        rows = driver.execute_script(
            "const h = [...document.querySelectorAll('h3')]"
            "  .find(e => e.textContent.startsWith('Server-mode'));"
            "let t = h.nextElementSibling;"
            "while (t && t.tagName !== 'TABLE') t = t.nextElementSibling;"
            "return [...t.querySelectorAll('tbody tr')].map(r => r.cells[1].textContent.trim())"
        )
        assert rows == ["rate=1/s", "rate=4/s", "rate=16/s", "rate=inf"]  # by load, inf last
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
