"""Every done run of a campaign as one tidy table, keyed by ``(exp_id, cycle)``.

Each row is one run: its configuration flattened into columns (``backend``, ``model``,
``params.batch_size``, ``workload.max_output_tokens``, ``measurement.sample_hz``, …) so any
field can be grouped on, followed by its metrics. Per-request records (latencies) go to a second
table; their intervals are taken over per-cycle statistics, never over pooled requests. Tables
are written atomically as parquet (typed, for analysis) and CSV (for a spreadsheet) under
``results/<campaign>/aggregate/``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from camp_contract import layout
from camp_contract.atomic import atomic_write_with
from camp_contract.models import RunResult, RunSpec, ServingMetrics
from camp_contract.validation import first_error
from orchestrator import goodput, serving_columns, slo, stats, warned

KEY_COLUMNS = ("exp_id", "cycle")
# Top-level spec fields that are configuration (nested ones are flattened with dots).
CONFIG_ROOTS = ("backend", "model", "seed", "params", "workload", "measurement")
# The metrics summarised per experiment, first the one the whole project is about.
SUMMARY_METRICS = (
    "energy_per_output_token_j",
    "throughput_tokens_per_s",
    "energy_per_request_j",
    "energy_adjusted_j",
    "avg_power_w",
    "latency_mean_s",
    "latency_p99_s",
)
# Server-mode experiments add their load, latencies, goodput and attainment (serving_columns.py).
ALL_SUMMARY_METRICS = (*SUMMARY_METRICS, *serving_columns.SERVING_METRICS)
SLO_MET_COLUMN = "slo_met"  # per experiment: mean attainment over cycles ≥ 90 % (slo.py)
# Metrics that are None where the device has no energy counter (or, for the sampling columns,
# in results written before they were recorded): NaN, not an object column.
_OPTIONAL_FLOAT_METRICS = (
    "energy_counter_j",
    "energy_disagreement",
    "achieved_hz",
    "max_sample_interval_s",
    "energy_counter_step_s",
    "settle_waited_s",
    "baseline_temperature_c",
    "window_start_temperature_c",
)
_OPTIONAL_INT_METRICS = ("n_samples_window",)
# The request latency table's metric: its columns are request_latency_s_mean, _low, _high, _n, _method.
REQUEST_LATENCY = "request_latency_s"
UNKNOWN_REVISION = "unknown"


class AggregationError(Exception):
    """A run directory that cannot be aggregated; the message names the file and the fix."""


@dataclass(frozen=True)
class LoadedRun:
    spec: RunSpec
    result: RunResult
    run_dir: Path


@dataclass(frozen=True)
class RunRecord:
    """What the tables keep of one run, taken as it is read: its spec (for the config columns)
    and its result as plain rows. The validated result is dropped, so 10k runs hold flat rows
    of numbers and text instead of a million pydantic objects (the memory, and the time the
    garbage collector spends scanning them)."""

    exp_id: str
    cycle: int
    spec: RunSpec
    metrics: dict[str, Any]  # ``metric_row``
    extra_columns: tuple[str, ...]  # the extra power sources' columns among the metrics
    requests: tuple[tuple[int, int, float], ...]  # input tokens, output tokens, latency
    warnings: tuple[tuple[str, str], ...]  # kind, message
    run_dir: Path  # a server-mode run's requests.parquet is read from here for goodput
    window: tuple[float, float]  # the measured window on the sampler clock
    serving: ServingMetrics | None  # a server-mode run's (None offline)


def run_record(run: LoadedRun) -> RunRecord:
    """The rows the tables take from one loaded run."""
    result = run.result
    return RunRecord(
        exp_id=run.spec.exp_id,
        cycle=run.spec.cycle,
        spec=run.spec,
        metrics=metric_row(result),
        extra_columns=tuple(extra_source_columns(result)),
        requests=tuple((q.input_tokens, q.output_tokens, q.latency_s) for q in result.requests),
        warnings=tuple((w.kind, w.message) for w in result.warnings),
        run_dir=run.run_dir,
        window=result.window,
        serving=result.serving,
    )


@dataclass(frozen=True)
class CampaignTables:
    runs: pd.DataFrame  # one row per run, every done run; ``excluded`` marks those left out
    requests: pd.DataFrame  # one row per measured request of the runs kept
    experiments: pd.DataFrame  # per experiment: config, warned-run counts, intervals over kept runs
    request_latency: pd.DataFrame  # per experiment: mean request latency, interval over cycles
    warnings: pd.DataFrame  # one row per run warning: exp_id, cycle, kind, message
    excluded_kinds: tuple[str, ...] = ()  # the kinds `--exclude-warned` left out of the intervals
    # Runs marked done whose files cannot be read (deleted, corrupted by hand): each message names
    # the file; the tables hold every valid run, and the next `camp run` redoes these.
    unreadable: tuple[str, ...] = ()
    slo: slo.ServiceLevel | None = None  # the campaign's, which goodput was computed under

    @property
    def kept_runs(self) -> pd.DataFrame:
        """The runs the intervals are computed from."""
        if "excluded" not in self.runs.columns:
            return self.runs
        return self.runs[~self.runs["excluded"]]


def load_run(run_dir: Path, specs: SpecCache | None = None) -> LoadedRun:
    """Read and validate one run's spec and result, checking that they describe the same run.

    ``specs``: the specs already validated while reading a campaign (see ``SpecCache``)."""
    files = layout.RunFiles(run_dir)
    spec = (specs or SpecCache()).read(files.spec)
    result = _read_model(files.result, RunResult)
    if (spec.exp_id, spec.cycle) != (result.exp_id, result.cycle):
        raise AggregationError(
            f"{run_dir}: spec is {spec.exp_id}/c{spec.cycle} but result is {result.exp_id}/c{result.cycle}; "
            "remove the stale result.json and re-run that cycle"
        )
    return LoadedRun(spec, result, run_dir)


def _read_model(path: Path, model: type[RunSpec] | type[RunResult]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise AggregationError(f"{path}: missing; `camp run` again redoes that run") from None
    except ValidationError as err:
        raise _invalid_file(path, model, err) from None
    except (OSError, ValueError) as err:  # unreadable, or bytes that are not text
        raise AggregationError(f"{path}: cannot be read ({err}); `camp run` again redoes that run") from None


def _invalid_file(
    path: Path, model: type[RunSpec] | type[RunResult], err: ValidationError
) -> AggregationError:
    return AggregationError(
        f"{path}: invalid {model.__name__} ({first_error(err)}); `camp run` again redoes that run"
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while runs are read: each run adds ~90 objects that
    live on, and with it on, its full collections re-scan all of them again and again (3× the
    reading time at 10k runs). The models hold no reference cycles; reference counting frees
    whatever the reading drops."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SpecCache:
    """Spec files read with one validation per experiment, not per run.

    The cycles of an experiment have the same spec but for ``cycle`` (the host writes them from
    one ``Experiment``): a spec whose JSON equals, cycle aside, one validated before is that
    spec with its own cycle — validating it again could only give the same answer, and costs
    ~150 µs, most of a report's reading time at 10k runs. Any other spec is validated in full."""

    def __init__(self) -> None:
        self._validated: dict[Any, tuple[dict[str, Any], RunSpec]] = {}

    def read(self, path: Path) -> RunSpec:
        try:
            raw = json.loads(path.read_bytes())
        except (OSError, ValueError):  # missing, unreadable, not JSON: said as for any file
            return _read_model(path, RunSpec)
        if isinstance(raw, dict) and isinstance(raw.get("exp_id"), str) and "cycle" in raw:
            cycle = raw.pop("cycle")
            seen = self._validated.get(raw["exp_id"])
            if seen is not None and seen[0] == raw and type(cycle) is int and cycle >= 0:
                return seen[1].model_copy(update={"cycle": cycle})
            template = dict(raw)
            raw["cycle"] = cycle
        else:
            template = None
        try:
            spec = RunSpec.model_validate(raw)
        except ValidationError as err:
            raise _invalid_file(path, RunSpec, err) from None
        if template is not None and template["exp_id"] == spec.exp_id:
            self._validated.setdefault(spec.exp_id, (template, spec))
        return spec


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → dotted keys; lists become JSON text so every cell is a scalar."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def config_row(spec: RunSpec) -> dict[str, Any]:
    """The configuration of a run as flat columns (prompts replaced by their count)."""
    dumped = spec.model_dump(mode="json", include=set(CONFIG_ROOTS))
    prompts = dumped["workload"].pop("prompts")
    dumped["workload"]["n_prompts"] = len(prompts)
    return flatten(dumped)


def metric_row(result: RunResult) -> dict[str, Any]:
    row: dict[str, Any] = result.metrics.model_dump()
    sampling = result.sampling
    row.update(
        energy_method=result.energy.method,
        energy_counter_j=result.energy.counter_j,
        energy_integrated_j=result.energy.integrated_j,
        energy_disagreement=result.energy.disagreement,
        energy_counter_step_s=result.energy.counter_step_s,
        baseline_power_w=result.baseline.power_w,
        baseline_spread_w=result.baseline.spread_w,
        baseline_method=result.baseline.method,
        baseline_cached=result.baseline.cached,
        baseline_age_s=result.baseline.age_s,
        baseline_temperature_c=max(result.baseline.temperature_c.values(), default=None),
        settled=result.settle.settled if result.settle is not None else None,
        settle_waited_s=result.settle.waited_s if result.settle is not None else None,
        window_start_temperature_c=max(result.window_start_temperature_c.values(), default=None),
        warmup_requests=result.warmup.n_requests,
        warmup_converged=result.warmup.converged,
        window_start_s=result.window[0],
        window_end_s=result.window[1],
        started_at=result.started_at,
        finished_at=result.finished_at,
        model_revision=(result.environment.get("model") or {}).get("revision"),
        n_warnings=len(result.warnings),
        warnings="; ".join(w.message for w in result.warnings),
        warning_kinds=",".join(sorted({w.kind for w in result.warnings})),
        camp_version=result.provenance.camp_version,
        source_revision=result.provenance.source_revision,
        image_id=result.provenance.image_id,
        image_digest=result.provenance.image_digest,
        hostname=result.provenance.hostname,
        slurm_job_id=result.provenance.slurm_job_id,
        gpu_models=gpu_models(result),
        achieved_hz=sampling.achieved_hz if sampling else None,
        n_samples_window=sampling.n_samples_window if sampling else None,
        max_sample_interval_s=sampling.max_interval_s if sampling else None,
        power_readings=",".join(sorted(set(sampling.power_readings.values()))) if sampling else None,
    )
    row.update(extra_source_columns(result))
    row.update(serving_columns.serving_columns(result))
    return row


def gpu_models(result: RunResult) -> str | None:
    """The models of the run's GPUs as one comparable string (``2× NVIDIA H100 80GB HBM3``), or
    None where the snapshot names none."""
    names = [str(g.get("name")) for g in result.environment.get("gpus") or [] if g.get("name")]
    if not names:
        return None
    return ", ".join(f"{names.count(n)}× {n}" for n in sorted(set(names)))


def extra_source_columns(result: RunResult) -> dict[str, float | None]:
    """Each extra power source's window energy (``energy_rapl_j``) and that less its own idle
    power (``energy_rapl_adjusted_j``); the GPU source's are ``energy_j`` and
    ``energy_adjusted_j``. None for older results, and only where a run metered such a source."""
    row: dict[str, float | None] = {}
    for name, energy in sorted(result.energy_by_source.items()):
        if energy.role == "extra":
            row[f"energy_{name}_j"] = energy.total_j
            row[f"energy_{name}_adjusted_j"] = energy.adjusted_j
    return row


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """The runs table from already read runs (see ``runs_table``)."""
    if not records:
        return pd.DataFrame({"exp_id": pd.Series(dtype="string"), "cycle": pd.Series(dtype="int64")})
    # exp_id hashes the resolved config, so the config is flattened once per experiment.
    configs: dict[str, dict[str, Any]] = {}
    for run in records:
        if run.exp_id not in configs:
            configs[run.exp_id] = config_row(run.spec)
    config = _typed_config(pd.DataFrame.from_records(list(configs.values())), list(configs.values()))
    config.index = pd.Index(list(configs), name="exp_id")
    metrics = pd.DataFrame.from_records(
        [{"exp_id": r.exp_id, "cycle": r.cycle, **r.metrics} for r in records]
    )
    duplicated = metrics.duplicated(list(KEY_COLUMNS))
    if duplicated.any():
        first = metrics.loc[duplicated].iloc[0]
        raise AggregationError(
            f"run {first['exp_id']}/c{first['cycle']} was given twice; pass each run dir once"
        )
    extra_sources = {c for r in records for c in r.extra_columns}
    for column in [*_OPTIONAL_FLOAT_METRICS, *sorted(extra_sources)]:
        metrics[column] = pd.to_numeric(metrics[column]).astype("float64")
    for column in _OPTIONAL_INT_METRICS:
        metrics[column] = pd.to_numeric(metrics[column]).astype("Int64")
    if any(r.serving is not None for r in records):  # NaN / NA for a mixed campaign's offline runs
        for column in serving_columns.FLOAT_COLUMNS:
            metrics[column] = pd.to_numeric(metrics[column]).astype("float64")
        for column in serving_columns.INT_COLUMNS:
            metrics[column] = pd.to_numeric(metrics[column]).astype("Int64")
    frame = metrics.join(config, on="exp_id")
    frame = frame[_column_order(frame)]
    return frame.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


def _typed_config(frame: pd.DataFrame, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Give every config column the type its values have in the specs: a field absent for some
    backends must not turn ints into floats (1 → 1.0) and mixed values must stay writable."""
    for column in frame.columns:
        kinds = {type(r[column]) for r in records if r.get(column) is not None}
        if kinds and kinds <= {bool}:
            frame[column] = frame[column].astype("boolean")
        elif kinds and kinds <= {int}:
            frame[column] = frame[column].astype("Int64")
        elif kinds and kinds <= {int, float}:
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].map(lambda v: None if _missing(v) else str(v))
            frame[column] = frame[column].astype("string")
    return frame


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _column_order(frame: pd.DataFrame) -> list[str]:
    """Keys, then config grouped by root (backend, model, params.*, …), then metrics."""
    config = config_columns(frame)
    # Spec order within each root, except params (which differ per backend): alphabetical,
    # so the table does not depend on which run was read first.
    config.sort(key=lambda c: (CONFIG_ROOTS.index(c.split(".", 1)[0]), c if c.startswith("params.") else ""))
    rest = [c for c in frame.columns if c not in config and c not in KEY_COLUMNS]
    return [*KEY_COLUMNS, *config, *rest]


def requests_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per measured request: exp_id, cycle, request index, tokens and latency."""
    exp_ids: list[str] = []
    cycles: list[int] = []
    indices: list[int] = []
    for run in records:
        n = len(run.requests)
        exp_ids += [run.exp_id] * n
        cycles += [run.cycle] * n
        indices += range(n)
    columns = list(zip(*(q for run in records for q in run.requests), strict=True)) or [(), (), ()]
    return pd.DataFrame(
        {
            "exp_id": pd.Series(exp_ids, dtype=object),
            "cycle": pd.Series(cycles, dtype="int64"),
            "request": pd.Series(indices, dtype="int64"),
            "input_tokens": pd.Series(columns[0], dtype="int64"),
            "output_tokens": pd.Series(columns[1], dtype="int64"),
            "latency_s": pd.Series(columns[2], dtype="float64"),
        }
    )


def warnings_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run warning: exp_id, cycle, kind and message (the report groups them by kind)."""
    rows = [(r.exp_id, r.cycle, kind, message) for r in records for kind, message in r.warnings]
    return pd.DataFrame.from_records(rows, columns=["exp_id", "cycle", "kind", "message"])


def read_runs(run_dirs: Iterable[Path]) -> tuple[list[RunRecord], list[str]]:
    """Every run's record, and a message naming each run that cannot be read (one bad run never
    hides the valid ones)."""
    records: list[RunRecord] = []
    unreadable: list[str] = []
    specs = SpecCache()
    with collector_paused():
        for run_dir in run_dirs:
            try:
                records.append(run_record(load_run(Path(run_dir), specs)))
            except AggregationError as err:
                unreadable.append(str(err))
    return records, unreadable


def runs_table(run_dirs: Iterable[Path]) -> pd.DataFrame:
    """One row per run, keyed by exp_id and cycle: flattened config columns, then metrics."""
    records, unreadable = read_runs(run_dirs)
    if unreadable:
        raise AggregationError(unreadable[0])
    return runs_frame(records)


def config_columns(frame: pd.DataFrame) -> list[str]:
    """The configuration columns of a runs table, in table order."""
    return [c for c in frame.columns if c.split(".", 1)[0] in CONFIG_ROOTS]


def swept_columns(frame: pd.DataFrame) -> list[str]:
    """Config columns that differ between experiments: what the campaign actually varied."""
    columns = config_columns(frame)
    if frame.empty:
        return []
    per_exp = frame.drop_duplicates("exp_id")[columns].astype("string").fillna("—")
    return [c for c in columns if per_exp[c].nunique() > 1]


def mixed_revision_warnings(runs: pd.DataFrame) -> list[str]:
    """Experiments whose cycles loaded different Hub commits of their model (an unpinned model
    updated mid-campaign): their cycles are not repeats of one measurement."""
    if runs.empty or "model_revision" not in runs.columns:
        return []
    return [
        f"experiment {exp_id} ran on {len(found)} revisions of its model ({', '.join(sorted(found))}): "
        "pin it in the campaign as org/name@<commit> and re-run it"
        for exp_id, found in _several_values(runs, "model_revision", runs["model_revision"].notna())
    ]


def mixed_build_warnings(runs: pd.DataFrame) -> list[str]:
    """Experiments whose cycles ran on different camp code or different images (a rebuild or a
    checkout change mid-campaign): their cycles are not repeats of one measurement. Runs whose
    build is unknown are left out: they can neither confirm nor contradict."""
    warnings = []
    for column, what in (("source_revision", "camp revisions"), ("image_id", "images")):
        if runs.empty or column not in runs.columns:
            continue
        known = runs[column].notna() & (runs[column] != UNKNOWN_REVISION)
        for exp_id, found in _several_values(runs, column, known):
            warnings.append(
                f"experiment {exp_id} ran on {len(found)} {what} "
                f"({', '.join(sorted(_short(str(v)) for v in found))}): its cycles are not repeats of "
                "one measurement; compare them per build (runs table), or re-run them on one build"
            )
    return warnings


def mixed_hardware_warnings(runs: pd.DataFrame) -> list[str]:
    """Experiments whose cycles ran on different machines or GPU models (a cluster hands each job
    whichever node is free): idle power, clocks and cooling differ between them, so the cycles
    are not repeats of one measurement. Runs that recorded neither are left out."""
    warnings = []
    for column, what in (("gpu_models", "GPU models"), ("hostname", "nodes")):
        if runs.empty or column not in runs.columns:
            continue
        for exp_id, found in _several_values(runs, column, runs[column].notna()):
            warnings.append(
                f"experiment {exp_id} ran on {len(found)} {what} ({'; '.join(sorted(map(str, found)))}): "
                "its cycles are not repeats of one measurement; compare them per "
                f"{'GPU model' if column == 'gpu_models' else 'node'} (runs table), or pin the campaign "
                "to one (a site's partition or node list)"
            )
    return warnings


def _several_values(runs: pd.DataFrame, column: str, rows: pd.Series) -> list[tuple[str, list[Any]]]:
    """Each experiment whose ``rows`` hold more than one value of ``column``, in exp_id order,
    with its values in the order the runs table has them. One pass over the distinct pairs, not
    a group per experiment: most experiments have one value, and 10k runs are 2k groups."""
    pairs = runs.loc[rows, ["exp_id", column]].drop_duplicates()
    several = pairs[pairs.duplicated("exp_id", keep=False)]
    return [(str(exp_id), list(group[column])) for exp_id, group in several.groupby("exp_id", sort=True)]


def _short(identifier: str) -> str:
    """A commit or image ID as far as a person tells them apart: 12 hex digits (and -dirty)."""
    digits = identifier.removeprefix("sha256:")
    commit, dirty, _ = digits.partition("-dirty")
    return commit[:12] + dirty


def experiments_frame(
    runs: pd.DataFrame, metrics: Sequence[str] = ALL_SUMMARY_METRICS, *, excluded_kinds: Sequence[str] = ()
) -> pd.DataFrame:
    """Per experiment: its config columns, how many of its runs are warned (per kind) and
    excluded, then mean/interval/n/method of each metric over the runs not ``excluded``.

    An experiment whose every run was excluded keeps its row (n = 0, no interval): it must not
    vanish from the table."""
    if runs.empty:
        return pd.DataFrame({"exp_id": pd.Series(dtype="string")})
    kept = runs[~runs["excluded"]] if "excluded" in runs.columns else runs
    config = runs.drop_duplicates("exp_id")[["exp_id", *config_columns(runs)]]
    chosen = [m for m in metrics if m in runs.columns]
    summary = stats.experiment_summary(kept, chosen)
    frame = config.merge(warned.experiment_counts(runs), on="exp_id", how="left")
    frame[warned.EXCLUDED_KINDS_COLUMN] = ",".join(excluded_kinds)
    frame = frame.merge(summary, on="exp_id", how="left")
    for metric in chosen:
        frame[f"{metric}_n"] = frame[f"{metric}_n"].fillna(0).astype("int64")
        frame[f"{metric}_method"] = frame[f"{metric}_method"].fillna(stats.METHOD_EMPTY)
    frame = frame.copy()  # one block again after a column per metric was set
    if "slo_attainment_pct" in chosen:
        attainment = frame["slo_attainment_pct_mean"]
        met = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        known = attainment.notna()
        met[known] = attainment[known] >= 100 * slo.ATTAINMENT_TARGET
        frame[SLO_MET_COLUMN] = met
    return frame.reset_index(drop=True)


def request_latency_frame(requests: pd.DataFrame) -> pd.DataFrame:
    """Per experiment: the mean request latency and its interval over cycles (n = cycles), and
    how many requests went into it (columns ``request_latency_s_mean`` … ``_method``, ``requests``).

    The requests of one cycle share its conditions (clocks, temperature, the batches they ran
    in), so they are not independent repeats: pooling them makes an interval that is far too
    narrow. Each cycle's mean latency is one observation instead.
    """
    if requests.empty:
        return pd.DataFrame({"exp_id": pd.Series(dtype="string")})
    per_cycle = (
        requests.groupby(["exp_id", "cycle"], sort=True)["latency_s"]
        .agg(latency_s="mean", requests="count")
        .reset_index()
    )
    table = stats.summarise(per_cycle, "latency_s", by=["exp_id"])
    # Named as the experiments table's columns are, unit included: request_latency_s_mean, …
    table = table.rename(columns={c: f"{REQUEST_LATENCY}_{c}" for c in table.columns if c != "exp_id"})
    counted = per_cycle.groupby("exp_id", sort=True)["requests"].sum()
    return table.merge(counted.rename("requests").reset_index(), on="exp_id", how="left")


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, *, csv: bool = True) -> list[Path]:
    """``<name>.parquet`` (and ``<name>.csv``), each written atomically."""
    parquet_path = out_dir / f"{name}.parquet"
    atomic_write_with(parquet_path, lambda tmp: frame.to_parquet(tmp, index=False))
    written = [parquet_path]
    if csv:
        csv_path = out_dir / f"{name}.csv"
        atomic_write_with(csv_path, lambda tmp: frame.to_csv(tmp, index=False))
        written.append(csv_path)
    return written


def write_tables(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The runs table as runs.parquet + runs.csv in ``out_dir`` (atomically)."""
    return write_table(frame, out_dir, "runs")


def with_goodput(
    runs: pd.DataFrame, records: Sequence[RunRecord], service_level: slo.ServiceLevel | None
) -> tuple[pd.DataFrame, list[str]]:
    """The runs table with each server-mode run's goodput under the campaign's SLO (from its
    requests.parquet), and a message for each run whose requests cannot be read (its goodput
    stays NaN; the run keeps its other figures). Unchanged without an SLO or server runs."""
    served = [r for r in records if r.serving is not None]
    if service_level is None or not served:
        return runs, []
    rows, problems = [], []
    for run in served:
        try:
            columns = serving_columns.goodput_columns(run.serving, run.window, run.run_dir, service_level)
        except goodput.RequestsUnreadable as err:
            problems.append(str(err))
            columns = dict(goodput.NO_GOODPUT)
        rows.append({"exp_id": run.exp_id, "cycle": run.cycle, **columns})
    found = pd.DataFrame.from_records(rows).astype({c: "float64" for c in goodput.NO_GOODPUT})
    return runs.merge(found, on=list(KEY_COLUMNS), how="left"), problems


def aggregate_runs(
    run_dirs: Iterable[Path],
    *,
    request_stats: bool = True,
    exclude_warned: Sequence[str] = (),
    service_level: slo.ServiceLevel | None = None,
) -> CampaignTables:
    """Read every run once and build all tables (request latency intervals only if asked).
    ``service_level``: the campaign's SLO, under which server-mode runs' goodput is counted.

    ``exclude_warned``: warning kinds (or ``all``) whose runs are left out of every interval —
    marked ``excluded`` in the runs table, counted per experiment. Raises
    ``warned.UnknownWarningKind`` for a kind no run carries."""
    records, unreadable = read_runs(run_dirs)
    runs, goodput_problems = with_goodput(runs_frame(records), records, service_level)
    unreadable.extend(goodput_problems)
    kinds = warned.resolve_excluded_kinds(runs, exclude_warned)
    runs["excluded"] = warned.excluded_mask(runs, kinds)
    left_out = runs.loc[runs["excluded"]]
    left_out_keys = set(zip(left_out["exp_id"], left_out["cycle"], strict=True))
    kept = [r for r in records if (r.exp_id, r.cycle) not in left_out_keys]
    requests = requests_frame(kept)
    latency = request_latency_frame(requests) if request_stats else pd.DataFrame({"exp_id": []})
    experiments = experiments_frame(runs, excluded_kinds=kinds)
    return CampaignTables(
        runs, requests, experiments, latency, warnings_frame(records), kinds, tuple(unreadable), service_level
    )


def done_run_dirs(campaign_dir: Path) -> list[Path]:
    """Done runs from the manifest; without a manifest, every run dir holding a result.json."""
    return done_run_dirs_and_note(campaign_dir)[0]


def done_run_dirs_and_note(campaign_dir: Path) -> tuple[list[Path], str | None]:
    """``done_run_dirs``, and what to say where the manifest is damaged: then every run dir
    holding a result.json is read (each is validated; the next `camp run` rebuilds the manifest)."""
    from orchestrator.manifest import ManifestDamaged
    from orchestrator.manifest import done_run_dirs as from_manifest

    if layout.manifest_path(campaign_dir).exists():
        try:
            return from_manifest(campaign_dir), None
        except ManifestDamaged as err:
            return layout.run_dirs_with_result(campaign_dir), f"{err}; reporting every result.json on disk"
    return layout.run_dirs_with_result(campaign_dir), None


def aggregate_campaign(
    campaign_dir: Path,
    *,
    write: bool = True,
    request_stats: bool = True,
    exclude_warned: Sequence[str] = (),
    service_level: slo.ServiceLevel | None = None,
) -> CampaignTables:
    """Aggregate a campaign's done runs; with ``write``, publish the tables under aggregate/.

    ``request_stats=False`` skips the request latency table where nothing shows it, e.g. the
    summary printed after ``camp run``.
    ``exclude_warned``, ``service_level``: see ``aggregate_runs``."""
    run_dirs, note = done_run_dirs_and_note(campaign_dir)
    tables = aggregate_runs(
        run_dirs, request_stats=request_stats, exclude_warned=exclude_warned, service_level=service_level
    )
    if note is not None:
        tables = replace(tables, unreadable=(note, *tables.unreadable))
    if write:
        out = layout.aggregate_dir(campaign_dir)
        write_tables(tables.runs, out)
        write_table(tables.requests, out, "requests", csv=False)
        write_table(tables.experiments, out, "experiments")
        write_table(tables.warnings, out, "warnings")
        if request_stats:
            write_table(tables.request_latency, out, "request_latency")
    return tables
