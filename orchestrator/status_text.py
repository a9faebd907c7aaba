"""What ``camp status`` prints: the counts, whether a ``camp run`` holds the campaign now, each run
that needs a look (running, died, failed, interrupted) on its own line, and the pending runs as
one count per cycle — a campaign of thousands of runs reads in a few lines.

A run the manifest says is ``running`` while no process holds the campaign's lock belonged to a
``camp run`` that died (killed, the machine rebooted): it is shown as ``died``, and the next
``camp run`` retries it (or, under Slurm, re-attaches to its job). Counts come from the database
(``GROUP BY``), never from loading every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from camp_contract import layout
from orchestrator.manifest import RUN_STATES, Manifest, RunState

DIED = "died"
NEEDS_A_LOOK: tuple[RunState, ...] = ("running", "failed", "interrupted")


class UnknownTarget(ValueError):
    """What ``camp status`` was given names no campaign; the message says what does."""


def resolve_target(target: str, results_dir: Path, campaign_name: Callable[[Path], str]) -> Path:
    """A campaign's results directory from a directory, a campaign file (``campaign_name`` reads
    its name) or a campaign's name under ``results_dir``."""
    path = Path(target)
    if path.is_dir():
        return path
    if path.is_file():
        return layout.campaign_dir(results_dir, campaign_name(path))
    try:
        named = layout.campaign_dir(results_dir, target)
    except ValueError:
        named = None
    if named is not None and named.is_dir():
        return named
    known = sorted(p.parent.name for p in results_dir.glob(f"*/{layout.MANIFEST_FILENAME}"))
    where = f"campaigns there: {', '.join(known)}" if known else "no campaign has run there yet"
    from orchestrator.config_errors import did_you_mean  # (pydantic, yaml): only for a wrong name

    hint = did_you_mean(target, known) if known else ""
    raise UnknownTarget(
        f"{target!r} is no results directory, campaign file or campaign under {results_dir} ({where})"
        + (f"; {hint}" if hint.startswith("did you mean") else "")
    )


def status_lines(
    campaign_dir: Path, manifest: Manifest, holder: int | None, describe_job: Callable[[str], str]
) -> list[str]:
    """``holder``: the pid of the ``camp run`` holding the campaign (0: held, pid unknown), None
    where none does (``lock.lock_holder``)."""
    counts = manifest.counts()
    held = holder is not None
    parts = [f"{campaign_dir}: {counts['done']}/{sum(counts.values())} done"]
    for state in RUN_STATES:
        if state == "done" or not counts[state]:
            continue
        parts.append(f"{counts[state]} {state if state != 'running' or held else DIED}")
    lines = [", ".join(parts)]
    if held:
        lines.append(f"  a `camp run` ({f'pid {holder}' if holder else 'pid unknown'}) is running it now")
    for row in manifest.runs(states=NEEDS_A_LOOK):
        died = row.state == "running" and not held
        detail = f" — {row.error}" if row.error and not died else ""
        if row.job_id and row.state == "running":
            detail = f" — {describe_job(row.job_id)}{detail}"
        if died:
            again = "re-attaches to its job" if row.job_id else "retries it"
            detail += f" — its `camp run` stopped while it ran; `camp run` again {again}"
        shown = DIED if died else row.state
        lines.append(f"  {shown:<11} {row.exp_id} c{row.cycle} {row.label} (attempts {row.attempts}){detail}")
    pending = manifest.counts_by_cycle("pending")
    if pending:
        per_cycle = ", ".join(f"c{cycle}: {n}" for cycle, n in pending.items())
        lines.append(f"  {'pending':<11} {sum(pending.values())} runs ({per_cycle})")
    return lines
