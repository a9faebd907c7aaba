"""What ``camp run`` says as it goes: the campaign's start line, one progress line per finished
run (its figures and, loudly, its warnings), failures, retries and the circuit breaker."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from camp_contract.models import RunResult
from orchestrator.grid import RejectedPoint
from orchestrator.manifest import SyncReport
from orchestrator.units import format_number, format_quantity


def sync_lines(report: SyncReport, rejected: Iterable[RejectedPoint]) -> list[str]:
    """What changed since the last ``camp run``, and the grid points no backend takes."""
    lines = [
        f"recovered {exp_id} c{cycle}: it was running when the last `camp run` stopped; retrying it"
        for exp_id, cycle in report.recovered
    ]
    if report.campaign_changed:
        lines.append(
            f"the campaign changed since its last run: {len(report.kept)} experiments kept with their "
            f"results, {len(report.added)} added, {len(report.removed)} removed"
        )
        lines += [
            f"  removed from the campaign (results kept on disk, left out of aggregates): {exp_id}"
            for exp_id in report.removed
        ]
    lines += [f"skipped grid point {p.backend} {p.model} {p.point}: {p.reason}" for p in rejected]
    return lines


def adopted_line(count: int, campaign_dir: Path) -> str:
    return (
        f"adopted {count} finished runs from their valid result.json files under {campaign_dir} "
        "(not run again)"
    )


def redo_line(exp_id: str, cycle: int, reason: str) -> str:
    return f"redoing {exp_id} c{cycle}: it was marked done but {reason}"


def leftover_line(name: str) -> str:
    return f"removed container {name} left behind by an earlier `camp run`"


def nothing_to_do_line(already_done: int, campaign: str) -> str:
    return f"nothing to do: all {already_done} runs of {campaign!r} are done"


def start_line(total: int, already_done: int, runtime: str, placement: str, campaign_dir: Path) -> str:
    """``placement`` is the placement's own description (empty for one run at a time)."""
    return (
        f"{total} runs to do ({already_done} already done) with executor "
        f"{runtime!r}{placement}; results in {campaign_dir}"
    )


def counter(started: int, total: int) -> str:
    return f"[{started:>{len(str(total))}}/{total}]"


def done_line(run: str, took_s: float, result: RunResult, note: str | None = None) -> str:
    """``note``: what is left and the ETA, where the view puts them on the line."""
    return f"{run}: done in {took_s:.1f}s{_noted(note)} — {progress_figures(result)}"


def retry_line(run: str, attempts_left: int, reason: str | None) -> str:
    return f"{run}: FAILED ({attempts_left} attempts left, retrying): {reason}"


def failed_line(run: str, reason: str | None, note: str | None = None) -> str:
    return f"{run}: FAILED{_noted(note)}: {reason}"


def _noted(note: str | None) -> str:
    return f" ({note})" if note else ""


def breaker_line(consecutive: int, limit: int) -> str:
    return (
        f"stopping: {consecutive} attempts in a row failed (max_consecutive_failures="
        f"{limit}); fix the cause, then `camp run` again to resume"
    )


def progress_figures(result: RunResult) -> str:
    """``50 mJ/token, 12345 tokens/s`` (the prefix the value needs, as the tables choose one;
    never scientific notation), then the run's warnings: their kinds on the same line and each
    message on a line of its own, so a warned run cannot scroll by unnoticed."""
    m = result.metrics
    per_token = (
        format_quantity(m.energy_per_output_token_j, "J", "/token")
        if math.isfinite(m.energy_per_output_token_j)
        else "J/token undefined (no output tokens)"
    )
    rate = (
        f"{format_number(m.throughput_tokens_per_s)} tokens/s"
        if math.isfinite(m.throughput_tokens_per_s)
        else ""
    )
    text = ", ".join(part for part in (per_token, rate) if part)
    if not result.warnings:
        return text
    kinds = ", ".join(sorted({w.kind for w in result.warnings}))
    lines = [f"{text} — ⚠ WARNED: {kinds}"]
    lines += [f"      ⚠ {w.kind}: {w.message}" for w in result.warnings]
    return "\n".join(lines)
