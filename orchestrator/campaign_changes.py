"""What a changed campaign would drop from the aggregates, said before ``camp run`` drops it.

A campaign whose experiments changed (a field edited, an axis narrowed, fewer cycles) keeps the
results of the old ones on disk but leaves them out of the aggregates. Before that happens,
``camp run`` lists which fields changed for which experiments — each dropped experiment with
done runs compared with the closest experiment of the new campaign, read from the manifest's
stored configs — and asks. A campaign that only adds experiments, or drops none that has a done
run, asks nothing.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.grid import Experiment
from orchestrator.manifest import Manifest, ManifestDamaged

SHOWN_IDS = 3  # exp_ids listed per change; the rest are counted


@dataclass(frozen=True)
class Dropped:
    """Experiments with done runs that leave the aggregates for one reason."""

    reason: str  # "params.dtype: float16 → bfloat16", "no longer in the campaign", …
    exp_ids: tuple[str, ...]
    done_runs: int


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"params": {"dtype": …}}`` as ``{"params.dtype": …}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Each field whose value differs: ``params.dtype: float16 → bfloat16``."""
    a, b = flatten(old), flatten(new)
    return [
        f"{key}: {_shown(a.get(key))} → {_shown(b.get(key))}"
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _reason(old: dict[str, Any], candidates: Iterable[dict[str, Any]]) -> str:
    """Why an old experiment is not in the new campaign: the fields that changed against the
    closest new experiment of its backend (the model is one field), else that it is gone."""
    same = [c for c in candidates if c.get("backend") == old.get("backend")]
    if not same:
        return f"no longer in the campaign ({old.get('backend')} {old.get('model')})"
    fewest: list[str] = min((field_changes(old, c) for c in same), key=len)
    return "; ".join(fewest)


def dropped_from_aggregates(
    campaign_dir: Path, experiments: Sequence[Experiment], cycles: int
) -> list[Dropped]:
    """What running ``experiments`` × ``cycles`` would leave out of the aggregates of the campaign
    last run into ``campaign_dir`` (nothing when it was never run or its manifest is unreadable:
    `camp run` says so itself)."""
    try:
        with Manifest.open_readonly(campaign_dir) as manifest:
            configs = manifest.experiment_configs()
            done = manifest.runs(states=("done",))
    except (FileNotFoundError, ManifestDamaged, OSError, sqlite3.Error):
        return []
    new = {e.exp_id: e.config() for e in experiments}
    groups: dict[str, list[str]] = defaultdict(list)
    runs: dict[str, int] = defaultdict(int)
    beyond: dict[int, int] = defaultdict(int)
    done_by_exp: dict[str, int] = defaultdict(int)
    for row in done:
        if row.exp_id in new and row.cycle >= cycles:
            beyond[row.cycle] += 1
        done_by_exp[row.exp_id] += 1
    for exp_id, count in done_by_exp.items():
        if exp_id in new or exp_id not in configs:
            continue
        reason = _reason(configs[exp_id], new.values())
        groups[reason].append(exp_id)
        runs[reason] += count
    dropped = [Dropped(reason, tuple(ids), runs[reason]) for reason, ids in groups.items()]
    if beyond:
        last = max(beyond) + 1
        dropped.append(
            Dropped(
                f"cycles: {last} → {cycles} ({_cycles(cycles, last - 1)} no longer run)",
                (),
                sum(beyond.values()),
            )
        )
    return dropped


def _cycles(first: int, last: int) -> str:
    return f"cycle c{first}" if first == last else f"cycles c{first}–c{last}"


def change_lines(dropped: Sequence[Dropped]) -> list[str]:
    """The listing ``camp run`` shows before it asks."""
    runs = sum(d.done_runs for d in dropped)
    lines = [
        f"the campaign changed: {runs} done run{'s' if runs != 1 else ''} would leave the aggregates "
        "(their results stay on disk):"
    ]
    for item in dropped:
        ids = ", ".join(item.exp_ids[:SHOWN_IDS]) + (
            f", … {len(item.exp_ids) - SHOWN_IDS} more" if len(item.exp_ids) > SHOWN_IDS else ""
        )
        whose = (
            f"{len(item.exp_ids)} experiment{'s' if len(item.exp_ids) != 1 else ''} ({ids}), " if ids else ""
        )
        lines.append(
            f"  {item.reason} — {whose}{item.done_runs} done run{'s' if item.done_runs != 1 else ''}"
        )
    return lines
