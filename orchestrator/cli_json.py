"""The documents ``camp run --json`` and ``camp status --json`` print (``plan``'s is
``planning.CampaignPlan.as_json``, ``report``'s and ``compare``'s are made in cli_report): one
JSON object each, shapes documented in docs/api.md."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.runner import CampaignOutcome


def status_document(campaign_dir: Path, counts: dict[str, int], holder: int | None = None) -> dict[str, Any]:
    """The counts per state; ``camp status`` writes every run with its state after them, as
    ``runs`` (``status_rows``). As the text says: ``holder`` is the pid of the ``camp run``
    holding the campaign (0: held, pid unknown; None: none does), and where none does, a run the
    manifest has ``running`` belonged to one that died: it is counted as ``died``."""
    from orchestrator.status_text import DIED

    held = holder is not None
    counts = {**counts, DIED: 0}
    if not held and counts.get("running"):
        counts[DIED], counts["running"] = counts["running"], 0
    return {
        "campaign_dir": str(campaign_dir),
        "camp_run": {"held": held, "pid": holder or None},
        "counts": counts,
    }


RUNNING_STATE = '"state":"running"'  # as SQLite's json_object (and the compact encoder) write it


def status_rows(runs: list[str], holder: int | None) -> Iterable[str]:
    """Each run's JSON text (``Manifest.run_json``: made by SQLite, a batch at a time), a
    ``running`` one marked ``died`` where no ``camp run`` holds the campaign. Inside a JSON string
    a quote is escaped, so the unescaped key and value can only be the run's own state."""
    if holder is not None:
        return runs
    from orchestrator.status_text import DIED

    died = f'"state":"{DIED}"'
    return (run.replace(RUNNING_STATE, died, 1) if RUNNING_STATE in run else run for run in runs)


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
