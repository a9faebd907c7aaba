"""Warned runs: which runs carry which warning kinds, counted per experiment and per kind, and
left out of the intervals on request (``camp report --exclude-warned KIND``).

A run warning (``camp_contract.models.RunWarning``) says a run's number may not be what it seems
(a throttled GPU, a negative adjusted energy, …). Such runs are averaged in unless the
researcher leaves them out, so every place that shows a number also shows how many warned runs
are behind it. Everything here works on the runs table's ``warning_kinds`` column (each run's
kinds, comma-joined), in one vectorised pass however large the campaign.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from orchestrator.config_errors import did_you_mean

ALL = "all"  # --exclude-warned all: every run with any warning
KIND_COLUMN_PREFIX = "warned."  # experiments table: runs of the experiment with this kind
EXCLUDED_KINDS_COLUMN = "excluded_kinds"
MAX_LISTED_EXPERIMENTS = 4
DOCS_HINT = 'docs/measurement.md, "Warnings, and what to do"'


class UnknownWarningKind(ValueError):
    """An ``--exclude-warned`` kind no run of the campaign carries; the message lists those present."""


def run_kinds(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, warning kind): ``exp_id``, ``cycle``, ``kind``."""
    empty = pd.DataFrame({"exp_id": pd.Series(dtype="string"), "cycle": [], "kind": []})
    if runs.empty or "warning_kinds" not in runs.columns:
        return empty
    kinds = runs[["exp_id", "cycle"]].assign(kind=runs["warning_kinds"].fillna("").astype(str).str.split(","))
    kinds = kinds.explode("kind")
    kinds = kinds[kinds["kind"].astype(bool)]
    return kinds.drop_duplicates().reset_index(drop=True) if not kinds.empty else empty


def kinds_present(runs: pd.DataFrame) -> list[str]:
    """Every warning kind some run carries, sorted."""
    return sorted(run_kinds(runs)["kind"].unique())


def resolve_excluded_kinds(runs: pd.DataFrame, requested: Sequence[str]) -> tuple[str, ...]:
    """The kinds ``--exclude-warned`` names (``all``: every kind present), checked against the
    runs: a kind no run carries is most likely a typo, so it is refused with the kinds present."""
    if not requested:
        return ()
    present = kinds_present(runs)
    if ALL in requested:
        return tuple(present)
    unknown = [k for k in dict.fromkeys(requested) if k not in present]
    if unknown:
        listed = ", ".join(present) if present else "none: no run carries a warning"
        hint = did_you_mean(unknown[0], present) if present else ""
        hint = f" ({hint})" if hint.startswith("did you mean") else ""
        raise UnknownWarningKind(
            f"--exclude-warned {', '.join(map(repr, unknown))}: no run of this campaign has a warning "
            f"of that kind{hint}; kinds present: {listed}; or say {ALL}"
        )
    return tuple(sorted(set(requested)))


def excluded_mask(runs: pd.DataFrame, kinds: Sequence[str]) -> pd.Series:
    """True for the runs carrying any of ``kinds``."""
    if not kinds or runs.empty:
        return pd.Series(False, index=runs.index, dtype=bool)
    pairs = run_kinds(runs)
    hit = pairs.loc[pairs["kind"].isin(kinds), ["exp_id", "cycle"]].drop_duplicates()
    keys = pd.MultiIndex.from_frame(runs[["exp_id", "cycle"]])
    return pd.Series(keys.isin(pd.MultiIndex.from_frame(hit)), index=runs.index, dtype=bool)


def experiment_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment: ``n_runs``, ``warned_runs``, ``excluded_runs`` and, for each kind present,
    ``warned.<kind>`` (its runs with that kind). ``runs`` may carry an ``excluded`` column."""
    if runs.empty:
        return pd.DataFrame({"exp_id": pd.Series(dtype="string")})
    per_run = runs[["exp_id"]].assign(
        warned=runs["warning_kinds"].fillna("").astype(str).str.len().gt(0)
        if "warning_kinds" in runs.columns
        else False,
        excluded=runs["excluded"].astype(bool) if "excluded" in runs.columns else False,
    )
    counts = per_run.groupby("exp_id", sort=True).agg(
        n_runs=("exp_id", "size"), warned_runs=("warned", "sum"), excluded_runs=("excluded", "sum")
    )
    pairs = run_kinds(runs)
    if not pairs.empty:
        by_kind = pd.crosstab(pairs["exp_id"], pairs["kind"]).add_prefix(KIND_COLUMN_PREFIX)
        counts = counts.join(by_kind, how="left")
    counts = counts.fillna(0).astype("int64")
    return counts.reset_index()


def kind_columns(frame: pd.DataFrame) -> list[str]:
    """The ``warned.<kind>`` columns of an experiments table."""
    return [c for c in frame.columns if str(c).startswith(KIND_COLUMN_PREFIX)]


def compact(row: pd.Series, columns: Sequence[str]) -> str:
    """``throttled×2, short_window×1``: an experiment's runs per kind, most frequent first."""
    counts = sorted(
        ((int(row[c]), c[len(KIND_COLUMN_PREFIX) :]) for c in columns if int(row[c]) > 0),
        key=lambda item: (-item[0], item[1]),
    )
    return ", ".join(f"{kind}×{n}" for n, kind in counts)


@dataclass(frozen=True)
class KindCount:
    """The runs of a campaign that carry one warning kind."""

    kind: str
    runs: int
    experiments: int
    excluded: int  # of these runs, how many the intervals leave out
    named: bool  # whether --exclude-warned named this kind (then every run of it is excluded)
    per_experiment: dict[str, int]  # exp_id → runs with this kind, most first

    def status(self) -> str:
        """Whether these runs are in the intervals, in words."""
        if self.named:
            return "excluded from the intervals"
        if self.excluded:
            return f"{self.excluded} excluded for another kind"
        return "in the intervals"


def kind_summary(runs: pd.DataFrame, excluded_kinds: Sequence[str] = ()) -> list[KindCount]:
    """One entry per kind present, most runs first."""
    pairs = run_kinds(runs)
    if pairs.empty:
        return []
    if "excluded" in runs.columns:
        pairs = pairs.merge(runs[["exp_id", "cycle", "excluded"]], on=["exp_id", "cycle"], how="left")
    else:
        pairs = pairs.assign(excluded=False)
    counts = []
    for kind, group in pairs.groupby("kind", sort=True):
        per_experiment = group.groupby("exp_id", sort=True).size().sort_values(ascending=False, kind="stable")
        counts.append(
            KindCount(
                kind=str(kind),
                runs=len(group),
                experiments=len(per_experiment),
                excluded=int(group["excluded"].astype(bool).sum()),
                named=kind in excluded_kinds,
                per_experiment={str(k): int(v) for k, v in per_experiment.items()},
            )
        )
    return sorted(counts, key=lambda c: (-c.runs, c.kind))


def summary_lines(runs: pd.DataFrame, excluded_kinds: Sequence[str] = (), *, width: int = 100) -> list[str]:
    """The warnings block under the terminal summary: how many runs are warned, per kind in
    which experiments, whether they are in the intervals, and how to leave them out."""
    kinds = kind_summary(runs, excluded_kinds)
    if not kinds:
        return []
    warned = int(runs["warning_kinds"].fillna("").astype(str).str.len().gt(0).sum())
    excluded = int(runs["excluded"].sum()) if "excluded" in runs.columns else 0
    head = f"⚠ {warned} of {_plural(len(runs), 'run')} {'carries' if warned == 1 else 'carry'} warnings"
    if excluded:
        verb = "is" if excluded == 1 else "are"
        head += (
            f"; the {_plural(excluded, 'run')} with {', '.join(excluded_kinds)} {verb} left out of the "
            "intervals above (--exclude-warned), the others are in them:"
        )
    else:
        head += ": their numbers are in the intervals above"
    lines = textwrap.wrap(head, width, subsequent_indent="  ", break_on_hyphens=False)
    name_width = max(len(k.kind) for k in kinds)
    for count in kinds:
        shown = list(count.per_experiment.items())[:MAX_LISTED_EXPERIMENTS]
        listed = ", ".join(f"{exp_id} ×{n}" for exp_id, n in shown)
        more = len(count.per_experiment) - len(shown)
        listed += f", … {more} more" if more else ""
        status = "" if not count.excluded else " (excluded)" if count.named else f" ({count.status()})"
        counted = f"{_plural(count.runs, 'run')} in {_plural(count.experiments, 'experiment')}"
        text = f"{count.kind:<{name_width}}  {counted}{status}: "
        lines.extend(
            textwrap.wrap(
                text + listed,
                width,
                initial_indent="  ",
                subsequent_indent=" " * (name_width + 4),
                break_on_hyphens=False,
            )
        )
    advice = f"what each kind means and what to do: {DOCS_HINT}"
    if not excluded:
        advice += f"; leave them out: `camp report CAMPAIGN --exclude-warned KIND` (repeatable, or {ALL})"
    lines.extend(
        textwrap.wrap(advice, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)
    )
    return lines


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
