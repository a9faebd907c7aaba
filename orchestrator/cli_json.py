"""The documents ``camp run --json`` and ``camp status --json`` print (``plan``'s is
``planning.CampaignPlan.as_json``, ``report``'s and ``compare``'s are made in cli_report): one
JSON object each, shapes documented in docs/api.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.runner import CampaignOutcome


def status_document(campaign_dir: Path, counts: dict[str, int]) -> dict[str, Any]:
    """The counts per state; ``camp status`` writes every run with its state after them, as
    ``runs`` (``Manifest.run_json``: each run's JSON made by SQLite, a batch at a time)."""
    return {"campaign_dir": str(campaign_dir), "counts": counts}


def run_document(
    campaign: str, campaign_dir: Path, counts: dict[str, int], outcome: CampaignOutcome, exit_code: int
) -> dict[str, Any]:
    """What one ``camp run`` did (``this_run``), where the campaign stands (``counts``), and the
    per-experiment intervals over every done run so far (``experiments``; null where the tables
    cannot be made, with ``summary_error`` saying why)."""
    from camp_contract import layout
    from orchestrator import aggregate
    from orchestrator.json_output import records

    experiments: list[dict[str, Any]] | None
    try:
        tables = aggregate.aggregate_campaign(campaign_dir, write=False, request_stats=False)
        experiments, error = records(tables.experiments), None
    except (aggregate.AggregationError, OSError) as err:
        experiments, error = None, str(err)
    return {
        "campaign": campaign,
        "campaign_dir": str(campaign_dir),
        "exit_code": exit_code,
        "counts": counts,
        "this_run": {
            "done": outcome.done,
            "failed": outcome.failed,
            "already_done": outcome.already_done,
            "breaker_tripped": outcome.breaker_tripped,
            "failures": list(outcome.failures),
        },
        "tables_dir": str(layout.aggregate_dir(campaign_dir)),
        "experiments": experiments,
        "summary_error": error,
    }
