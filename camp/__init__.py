"""camp's Python API, for notebooks and scripts: load and validate a campaign, plan it, run it,
and read its results as pandas DataFrames. A thin, typed facade over ``orchestrator`` (what the
``camp`` command runs), stable across releases; docs/api.md walks through it.

>>> import camp
>>> campaign = camp.load_campaign("campaigns/smoke.yaml")      # doctest: +SKIP
>>> camp.plan(campaign).experiments_frame()                    # doctest: +SKIP
>>> summary = camp.run(campaign, results_dir="results")        # doctest: +SKIP
>>> camp.results(summary.campaign_dir).experiments()           # doctest: +SKIP
"""

from camp.api import (
    CampaignPlan,
    RunSummary,
    load_campaign,
    plan,
    results,
    run,
)
from camp.result_tables import Results

__all__ = ["CampaignPlan", "Results", "RunSummary", "load_campaign", "plan", "results", "run"]
