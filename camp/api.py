"""The functions of ``import camp``: each does what its ``camp`` command does, and returns
Python objects instead of printing. Errors are exceptions whose message is the line the command
would print (``ConfigError`` names the file, line, field and fix)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.campaign import Campaign
from orchestrator.planning import CampaignPlan, make_plan

if TYPE_CHECKING:
    from camp.result_tables import Results
    from orchestrator.executors.runtime import Runtime

PathLike = str | os.PathLike[str]
DEFAULT_RESULTS_DIR = "results"


def load_campaign(path: PathLike) -> Campaign:
    """Read and validate a campaign file, as ``camp run`` does before anything else.

    Raises ``orchestrator.config_errors.ConfigError`` listing every problem (file, line, field,
    did-you-mean). Command-line style overrides (``-s key=value``) are not part of the API yet:
    change the returned object with ``campaign.model_copy(update={...})``."""
    from orchestrator.campaign import load_campaign as load

    return load(Path(path))


def _campaign(campaign: Campaign | PathLike) -> Campaign:
    return campaign if isinstance(campaign, Campaign) else load_campaign(campaign)


def plan(campaign: Campaign | PathLike) -> CampaignPlan:
    """What ``camp run`` would run, without running or writing anything: ``.experiments`` (with
    ``.experiments_frame()``), ``.rejected`` grid points with the reason, ``.order`` of
    ``(exp_id, cycle)`` and ``.as_json()`` (what ``camp plan --json`` prints)."""
    return make_plan(_campaign(campaign))


@dataclass(frozen=True)
class RunSummary:
    """What one ``run`` did and where the campaign stands."""

    campaign_dir: Path
    counts: dict[str, int]  # runs per state over the whole campaign: done, failed, pending, …
    done: int  # runs this call finished
    failed: int  # failed attempts in this call
    already_done: int
    breaker_tripped: bool  # stopped by max_consecutive_failures
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Everything asked for is done (``camp run`` would exit 0)."""
        return self.counts.get("failed", 0) == 0 and self.failed == 0 and not self.breaker_tripped

    def results(self) -> Results:
        from camp.result_tables import Results

        return Results(self.campaign_dir)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run(
    campaign: Campaign | PathLike,
    results_dir: PathLike = DEFAULT_RESULTS_DIR,
    executor: str | Runtime | None = None,
    *,
    compose_file: PathLike | None = None,
    site: PathLike | None = None,
    echo: Callable[[str], None] = _stderr,
) -> RunSummary:
    """Run (or resume) every pending run, as ``camp run`` does; returns when the campaign stops.

    ``executor``: a registered name (``docker``, ``local``, ``slurm``, ``auto``; default: the
    campaign's ``executor``) or a ``Runtime`` object. ``echo`` receives each progress line
    (default: stderr). Raises ``orchestrator.lock.CampaignLocked`` when another ``camp run``
    holds the campaign, ``orchestrator.executors.ExecutorUnavailable`` when the executor cannot
    run here; Ctrl-C raises ``KeyboardInterrupt`` after marking the runs in flight interrupted."""
    from orchestrator.cli import default_compose_file
    from orchestrator.executors import make_executor
    from orchestrator.manifest import Manifest
    from orchestrator.runner import CampaignRunner

    chosen = _campaign(campaign)
    if executor is None or isinstance(executor, str):
        compose = Path(compose_file) if compose_file is not None else default_compose_file()
        runtime, notice = make_executor(executor or chosen.executor, compose, Path(site) if site else None)
        if notice:
            echo(f"notice: {notice}")
    else:
        runtime = executor
    runner = CampaignRunner(chosen, Path(results_dir), runtime, echo)
    outcome = runner.run()
    with Manifest.open_readonly(runner.campaign_dir) as manifest:
        counts = manifest.counts()
    return RunSummary(
        runner.campaign_dir,
        counts,
        outcome.done,
        outcome.failed,
        outcome.already_done,
        outcome.breaker_tripped,
        list(outcome.failures),
    )


def results(source: Campaign | PathLike, results_dir: PathLike = DEFAULT_RESULTS_DIR) -> Results:
    """A campaign's results: ``source`` is its results directory (``results/<name>``), its
    campaign file or a loaded ``Campaign`` (then found under ``results_dir``). Raises
    ``FileNotFoundError`` naming the directory when it has not been run."""
    from camp.result_tables import Results
    from camp_contract import layout

    if isinstance(source, Campaign):
        campaign_dir = layout.campaign_dir(Path(results_dir), source.name)
    elif Path(source).is_dir():
        campaign_dir = Path(source)
    else:
        campaign_dir = layout.campaign_dir(Path(results_dir), load_campaign(source).name)
    if not campaign_dir.is_dir():
        raise FileNotFoundError(f"no results at {campaign_dir}: run the campaign first")
    return Results(campaign_dir)
