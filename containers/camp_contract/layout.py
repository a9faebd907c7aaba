"""Where everything lives under the results root: the one module that spells a path.

::

    <results root>/
        .cache/                        the idle-baseline cache (harness; shared by campaigns)
        <campaign>/
            manifest.sqlite            every run's state (host)
            campaign.json              the campaign as it was last run (host)
            .camp-run.lock             one `camp run` per campaign at a time (host)
            <exp_id>/c<cycle>/         one run:
                spec.json                  what to run (host → harness)
                result.json                what happened; its presence means done (harness → host)
                timeseries.parquet         the sampled power trace (harness → host)
                requests.parquet           server mode: one row per request (harness → host)
                error.json                 why the run failed, where the harness could say (harness → host)
                progress.json              the phase the run in flight is in (harness → host)
                container.log              everything the run printed (host)
            aggregate/                 the tidy tables (host)
            report/                    the HTML report (host)

The host builds these paths with the functions below, and the harness reads a spec's path back
into its parts (``locate_spec``) instead of guessing the results root from the path's depth.
The paths are generic over ``PurePath``, so the host can name the same file inside a container
(``/results/…``) as on its own disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Generic, TypeVar

SPEC_FILENAME = "spec.json"
RESULT_FILENAME = "result.json"
TIMESERIES_FILENAME = "timeseries.parquet"
ERROR_FILENAME = "error.json"
REQUESTS_FILENAME = "requests.parquet"
PROGRESS_FILENAME = "progress.json"
CONTAINER_LOG_FILENAME = "container.log"
MANIFEST_FILENAME = "manifest.sqlite"
CAMPAIGN_SNAPSHOT_FILENAME = "campaign.json"
LOCK_FILENAME = ".camp-run.lock"
AGGREGATE_DIRNAME = "aggregate"
REPORT_DIRNAME = "report"
BASELINE_CACHE_DIRNAME = ".cache"
DOCTOR_PROBE_FILENAME = ".camp-doctor-probe"
CYCLE_PREFIX = "c"
_CYCLE_DIR = re.compile(rf"^{CYCLE_PREFIX}(0|[1-9][0-9]*)$")

P = TypeVar("P", bound=PurePath)


def _component(kind: str, name: str) -> str:
    """A campaign name or exp_id becomes one directory: it must be one plain path component."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"{kind} {name!r} cannot name a directory of the results layout")
    return name


def campaign_dir(results_root: P, campaign: str) -> P:
    return results_root / _component("campaign", campaign)


def cycle_dirname(cycle: int) -> str:
    if cycle < 0:
        raise ValueError(f"cycle {cycle} is negative")
    return f"{CYCLE_PREFIX}{cycle}"


def run_dir(campaign_dir: P, exp_id: str, cycle: int) -> P:
    """Where one run's spec, result, timeseries, error record and container log live."""
    return campaign_dir / _component("exp_id", exp_id) / cycle_dirname(cycle)


def manifest_path(campaign_dir: Path) -> Path:
    return campaign_dir / MANIFEST_FILENAME


def campaign_snapshot_path(campaign_dir: Path) -> Path:
    return campaign_dir / CAMPAIGN_SNAPSHOT_FILENAME


def lock_path(campaign_dir: Path) -> Path:
    return campaign_dir / LOCK_FILENAME


def aggregate_dir(campaign_dir: Path) -> Path:
    return campaign_dir / AGGREGATE_DIRNAME


def report_dir(campaign_dir: Path) -> Path:
    return campaign_dir / REPORT_DIRNAME


def baseline_cache_dir(results_root: Path) -> Path:
    return results_root / BASELINE_CACHE_DIRNAME


def doctor_probe_path(results_root: Path) -> Path:
    return results_root / DOCTOR_PROBE_FILENAME


def run_dirs_with_result(campaign_dir: Path) -> list[Path]:
    """Every run directory of the campaign holding a result.json, sorted (for a campaign
    directory without a manifest)."""
    return sorted(
        path.parent
        for path in campaign_dir.glob(f"*/{CYCLE_PREFIX}*/{RESULT_FILENAME}")
        if _CYCLE_DIR.match(path.parent.name)
    )


@dataclass(frozen=True)
class RunFiles(Generic[P]):
    """The files of one run, all in its run directory."""

    dir: P

    @property
    def spec(self) -> P:
        return self.dir / SPEC_FILENAME

    @property
    def result(self) -> P:
        return self.dir / RESULT_FILENAME

    @property
    def timeseries(self) -> P:
        return self.dir / TIMESERIES_FILENAME

    @property
    def requests(self) -> P:
        return self.dir / REQUESTS_FILENAME

    @property
    def error(self) -> P:
        return self.dir / ERROR_FILENAME

    @property
    def progress(self) -> P:
        return self.dir / PROGRESS_FILENAME

    @property
    def container_log(self) -> P:
        return self.dir / CONTAINER_LOG_FILENAME

    @property
    def harness_outputs(self) -> tuple[P, ...]:
        """What an attempt of the harness writes: removed before each attempt, so an earlier
        attempt's file is never taken for this one's."""
        return (self.result, self.timeseries, self.requests, self.error, self.progress)


def run_files(results_root: P, campaign: str, exp_id: str, cycle: int) -> RunFiles[P]:
    """The files of run (``exp_id``, ``cycle``) of ``campaign`` under ``results_root``."""
    return RunFiles(run_dir(campaign_dir(results_root, campaign), exp_id, cycle))


@dataclass(frozen=True)
class RunLocation:
    """One run's place in the layout: results root, campaign, exp_id, cycle."""

    results_root: Path
    campaign: str
    exp_id: str
    cycle: int

    @property
    def campaign_dir(self) -> Path:
        return campaign_dir(self.results_root, self.campaign)

    @property
    def run_dir(self) -> Path:
        return run_dir(self.campaign_dir, self.exp_id, self.cycle)

    @property
    def files(self) -> RunFiles[Path]:
        return RunFiles(self.run_dir)


def locate_spec(spec_path: Path) -> RunLocation | None:
    """``<root>/<campaign>/<exp_id>/c<cycle>/spec.json`` → its location; None for a spec that is
    not laid out so (a file handed to ``camp-harness run`` by hand). A relative path counts from
    the working directory."""
    path = spec_path.absolute()
    cycle_dir = path.parent
    match = _CYCLE_DIR.match(cycle_dir.name)
    if path.name != SPEC_FILENAME or match is None or len(cycle_dir.parents) < 3:
        return None
    exp_dir = cycle_dir.parent
    campaign = exp_dir.parent
    if not exp_dir.name or not campaign.name:
        return None
    return RunLocation(campaign.parent, campaign.name, exp_dir.name, int(match.group(1)))
