"""The functions of ``import camp``: each does what its ``camp`` command does, and returns
Python objects instead of printing. Errors are exceptions whose message is the line the command
would print (``ConfigError`` names the file, line, field and fix)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
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


def load_campaign(path: PathLike, overrides: Sequence[str] = ()) -> Campaign:
    """Read and validate a campaign file, as ``camp run`` does before anything else.

    ``overrides`` are the command line's ``-s`` options without the ``-s``
    (``["cycles=3", "backends.stub.grid.batch_size=[1,8]"]``): set on the file's data before it
    is validated, so typed and checked like the file. Raises
    ``orchestrator.config_errors.ConfigError`` listing every problem (file, line or override,
    field, did-you-mean)."""
    from orchestrator.campaign import load_campaign as load

    return load(Path(path), _override_texts(overrides))


def _override_texts(overrides: Sequence[str]) -> tuple[str, ...]:
    """A lone string would be iterated character by character: refuse it with the fix."""
    if isinstance(overrides, str):
        raise TypeError(f"overrides is a list of KEY=VALUE strings: overrides=[{overrides!r}]")
    return tuple(overrides)


def _campaign(campaign: Campaign | PathLike, overrides: Sequence[str] = ()) -> Campaign:
    if not isinstance(campaign, Campaign):
        return load_campaign(campaign, overrides)
    if overrides:
        raise TypeError(
            "overrides apply to a campaign file: pass its path, or load it with "
            "camp.load_campaign(path, overrides=[...]) (a loaded Campaign is changed with "
            "campaign.model_copy(update={...}))"
        )
    return campaign


def plan(campaign: Campaign | PathLike, overrides: Sequence[str] = ()) -> CampaignPlan:
    """What ``camp run`` would run, without running or writing anything: ``.experiments`` (with
    ``.experiments_frame()``), ``.rejected`` grid points with the reason, ``.order`` of
    ``(exp_id, cycle)`` and ``.as_json()`` (what ``camp plan --json`` prints). ``overrides``
    as for ``load_campaign``, with a path."""
    return make_plan(_campaign(campaign, overrides))


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
    overrides: Sequence[str] = (),
    refresh_outputs: bool = True,
) -> RunSummary:
    """Run (or resume) every pending run, as ``camp run`` does; returns when the campaign stops.

    ``executor``: a registered name (``docker``, ``local``, ``slurm``, ``auto``; default: the
    campaign's ``executor``) or a ``Runtime`` object. ``echo`` receives each progress line
    (default: stderr). ``overrides`` as for ``load_campaign`` (with a path; ``campaign.json``
    records them, as after ``camp run -s``). As ``camp run``, it then refreshes the aggregate
    tables and the HTML report, however the campaign stopped (``refresh_outputs=False``: not).
    Raises ``orchestrator.lock.CampaignLocked`` when another ``camp run``
    holds the campaign, ``orchestrator.executors.ExecutorUnavailable`` when the executor cannot
    run here; Ctrl-C raises ``KeyboardInterrupt`` after marking the runs in flight interrupted."""
    from orchestrator.cli import default_compose_file
    from orchestrator.executors import make_executor
    from orchestrator.lock import CampaignLocked
    from orchestrator.manifest import Manifest
    from orchestrator.runner import CampaignRunner

    texts = _override_texts(overrides)
    chosen = _campaign(campaign, texts)
    if executor is None or isinstance(executor, str):
        compose = Path(compose_file) if compose_file is not None else default_compose_file()
        runtime, notice = make_executor(executor or chosen.executor, compose, Path(site) if site else None)
        if notice:
            echo(f"notice: {notice}")
    else:
        runtime = executor
    runner = CampaignRunner(chosen, Path(results_dir), runtime, echo, overrides=texts)
    try:
        outcome = runner.run()
    except CampaignLocked:  # another `camp run` holds it: its outputs are its own
        raise
    except BaseException:  # Ctrl-C, a lost executor, a full disk: as far as it got, then raised
        if refresh_outputs:
            _refresh(runner.campaign_dir, echo)
        raise
    if refresh_outputs:
        _refresh(runner.campaign_dir, echo)
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


def _refresh(campaign_dir: Path, echo: Callable[[str], None]) -> None:
    """The tables and the report as far as the campaign got, as ``camp run`` leaves them; a
    problem is said, not raised (the runs are recorded either way)."""
    from camp_contract import layout
    from orchestrator.aggregate import AggregationError
    from orchestrator.outputs import refresh_outputs

    if not layout.manifest_path(campaign_dir).exists():
        return
    try:
        refreshed = refresh_outputs(campaign_dir)
    except (AggregationError, OSError) as err:
        echo(f"cannot refresh the tables and the report: {err}")
        return
    except KeyboardInterrupt:  # a second Ctrl-C: each file is written atomically, left as it was
        return
    echo(f"report: {refreshed.index}")


def results(
    source: Campaign | PathLike, results_dir: PathLike = DEFAULT_RESULTS_DIR, overrides: Sequence[str] = ()
) -> Results:
    """A campaign's results: ``source`` is its results directory (``results/<name>``), its
    campaign file (with the ``overrides`` it was run with, should they change its ``name``) or a
    loaded ``Campaign`` (then found under ``results_dir``). Raises ``FileNotFoundError`` naming
    the directory when it has not been run."""
    from camp.result_tables import Results
    from camp_contract import layout

    if isinstance(source, Campaign):
        campaign_dir = layout.campaign_dir(Path(results_dir), source.name)
    elif Path(source).is_dir():
        campaign_dir = Path(source)
    else:
        campaign_dir = layout.campaign_dir(Path(results_dir), load_campaign(source, overrides).name)
    if not campaign_dir.is_dir():
        raise FileNotFoundError(f"no results at {campaign_dir}: run the campaign first")
    return Results(campaign_dir)
