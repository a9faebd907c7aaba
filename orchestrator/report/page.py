"""The HTML page: ``templates/report.html.j2`` rendered from ``data.ReportData`` and written, with
its figures, into ``results/<campaign>/report/``.

The template is autoescaped, so a campaign name, a config value or a warning message reaches
the page as text whatever characters it holds; nothing here builds HTML by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import jinja2

from camp_contract import layout
from camp_contract.atomic import atomic_write_text
from orchestrator import aggregate
from orchestrator.report.data import ReportData, report_data
from orchestrator.report.figures import PALETTE, draw_figures
from orchestrator.report.serving_figures import draw_serving_figures
from orchestrator.report.traces import write_trace_files

TEMPLATE = "report.html.j2"
INDEX = "index.html"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Templates from this package's ``templates/`` (shipped as package data), autoescaped;
    an undefined name is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("orchestrator.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(data: ReportData) -> str:
    """The report page as HTML text."""
    return environment().get_template(TEMPLATE).render(data=data, palette=PALETTE)


def write_report(
    campaign_dir: Path, tables: aggregate.CampaignTables | None = None, by: Sequence[Sequence[str]] = ()
) -> Path:
    """Write ``report/index.html`` with its PNG plots and every run's trace script; aggregates the
    done runs unless ``tables`` (from ``aggregate.aggregate_campaign``) are given. ``by``: the
    field lists of ``camp report --by``, each a table on the page."""
    campaign_dir = Path(campaign_dir)
    if tables is None:
        tables = aggregate.aggregate_campaign(campaign_dir)
    out = layout.report_dir(campaign_dir)
    out.mkdir(parents=True, exist_ok=True)
    trace_files = write_trace_files(tables.runs, campaign_dir, out)
    data = report_data(campaign_dir, tables, by=by, trace_files=trace_files)
    draw_figures(data, out)
    if data.serving is not None:
        draw_serving_figures(data.serving, out)
    index = out / INDEX
    atomic_write_text(index, render_page(data))
    remove_stale_plots(out, {plot.filename for plot in data.plots})
    return index


def remove_stale_plots(out: Path, shown: set[str]) -> None:
    """Plots of an earlier report (a parameter no longer swept) would mislead whoever browses the
    folder: remove the PNGs this page does not show."""
    for png in out.glob("*.png"):
        if png.name not in shown:
            png.unlink(missing_ok=True)
