"""What a researcher reads: the terminal summary after ``camp run`` and the HTML report.

The report (``results/<campaign>/report/index.html``) holds the per-experiment table with
intervals, energy per token against each swept parameter, throughput against energy with the
Pareto front, and the power trace of one run with its measured window shaded. It is made in
three parts, each a module with one job:

- ``data``: what the page shows, computed once from ``aggregate.CampaignTables`` — the tables
  as text cells, which plots exist, their captions and points;
- ``figures``: the matplotlib PNGs, drawn from that data;
- ``page``: ``templates/report.html.j2`` (jinja2, autoescaped) rendered from it, written atomically.

``formatting`` spells numbers, intervals and labels for the page and for ``terminal`` (what
``camp run`` and ``camp report`` print); ``traces`` reads a run's power trace. Callers outside
the package use the five functions below.
"""

from orchestrator.report.page import write_report
from orchestrator.report.terminal import (
    format_campaign_summary,
    format_comparison,
    format_grouped,
    summary_text,
)

__all__ = ["format_campaign_summary", "format_comparison", "format_grouped", "summary_text", "write_report"]
