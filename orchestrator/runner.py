"""Running a campaign: the manifest's pending runs, one at a time, each in a fresh executor.

A run is done only when the harness left a ``result.json`` that validates against the contract
and belongs to this (exp_id, cycle); anything else — a crash, a non-zero exit, a timeout, a
missing or invalid result — is recorded as failed with the exit code, the reason (the harness's
``error.json`` where it wrote one, else the last line the run printed) and the log tail, and the
campaign goes on. Ctrl-C marks the run in flight ``interrupted`` and stops; the next ``camp run``
picks up exactly there.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from camp_contract import layout
from camp_contract.atomic import atomic_write_text
from camp_contract.failure import read_failure
from camp_contract.models import RunResult
from camp_contract.validation import first_error
from orchestrator.campaign import Campaign
from orchestrator.executors import ExecOutcome, Executor, RunRequest
from orchestrator.gpu_pool import GpuPool
from orchestrator.grid import Expansion, Experiment, expand
from orchestrator.lock import campaign_lock
from orchestrator.manifest import Manifest, RunRow
from orchestrator.schedule import schedule

STOP_GRACE_S = 60.0
MAX_REASON_CHARS = 1000  # of the harness's reason, as the manifest keeps it

Echo = Callable[[str], None]


@dataclass
class CampaignOutcome:
    done: int = 0
    failed: int = 0
    already_done: int = 0
    breaker_tripped: bool = False
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Flight:
    row: RunRow
    request: RunRequest
    started: float
    prefix: str


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    reason: str | None = None
    result: RunResult | None = None


def campaign_fingerprint(campaign: Campaign) -> str:
    import hashlib

    return hashlib.sha256(campaign.model_dump_json().encode()).hexdigest()[:16]


def check_result(path: Path, exp_id: str, cycle: int) -> AttemptResult:
    """Is there a valid result for this run at ``path``? The reason when not."""
    if not path.is_file():
        return AttemptResult(False, "no result.json was written")
    try:
        result = RunResult.model_validate_json(path.read_bytes())
    except ValidationError as err:
        return AttemptResult(False, f"result.json is invalid ({first_error(err)})")
    except OSError as err:
        return AttemptResult(False, f"result.json cannot be read: {err}")
    if (result.exp_id, result.cycle) != (exp_id, cycle):
        return AttemptResult(
            False, f"result.json belongs to {result.exp_id} c{result.cycle}, not {exp_id} c{cycle}"
        )
    return AttemptResult(True, result=result)


def failure_reason(path: Path, exp_id: str, cycle: int) -> str | None:
    """The harness's own reason for this run's failure, from its ``error.json``; None where it
    wrote none (killed for memory, SIGKILL, a crash before Python) or one of another run."""
    failure = read_failure(path)
    if failure is None or (failure.exp_id, failure.cycle) not in ((exp_id, cycle), (None, None)):
        return None
    return failure.reason()[:MAX_REASON_CHARS]


def progress_figures(result: RunResult) -> str:
    """``0.05 J/token, 812 tokens/s``, then the run's warnings: their kinds on the same line and
    each message on a line of its own, so a warned run cannot scroll by unnoticed."""
    m = result.metrics
    per_token = (
        f"{m.energy_per_output_token_j:.4g} J/token"
        if math.isfinite(m.energy_per_output_token_j)
        else "J/token undefined (no output tokens)"
    )
    rate = f"{m.throughput_tokens_per_s:.4g} tokens/s" if math.isfinite(m.throughput_tokens_per_s) else ""
    text = ", ".join(part for part in (per_token, rate) if part)
    if not result.warnings:
        return text
    kinds = ", ".join(sorted({w.kind for w in result.warnings}))
    lines = [f"{text} — ⚠ WARNED: {kinds}"]
    lines += [f"      ⚠ {w.kind}: {w.message}" for w in result.warnings]
    return "\n".join(lines)


class CampaignRunner:
    def __init__(
        self,
        campaign: Campaign,
        results_root: Path,
        executor: Executor,
        echo: Echo,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.campaign = campaign
        self.results_root = results_root
        self.campaign_dir = layout.campaign_dir(results_root, campaign.name)
        self.executor = executor
        self.echo = echo
        self.sleep = sleep
        self.expansion: Expansion = expand(campaign)
        self.experiments: dict[str, Experiment] = {e.exp_id: e for e in self.expansion.experiments}
        self._consecutive_failures = 0

    def run(self) -> CampaignOutcome:
        with campaign_lock(self.campaign_dir), Manifest.open(self.campaign_dir) as manifest:
            self._prepare(manifest)
            return self._run_pending(manifest)

    def _prepare(self, manifest: Manifest) -> None:
        order = schedule(
            list(self.experiments), self.campaign.cycles, self.campaign.order.mode, self.campaign.order.seed
        )
        report = manifest.sync(
            self.campaign.name, campaign_fingerprint(self.campaign), self.expansion.experiments, order
        )
        atomic_write_text(
            layout.campaign_snapshot_path(self.campaign_dir), self.campaign.model_dump_json(indent=2)
        )
        for exp_id, cycle in report.recovered:
            self.echo(
                f"recovered {exp_id} c{cycle}: it was running when the last `camp run` stopped; retrying it"
            )
        if report.campaign_changed:
            self.echo(
                f"the campaign changed since its last run: {len(report.kept)} experiments kept with their "
                f"results, {len(report.added)} added, {len(report.removed)} removed"
            )
            for exp_id in report.removed:
                self.echo(
                    f"  removed from the campaign (results kept on disk, left out of aggregates): {exp_id}"
                )
        for point in self.expansion.rejected:
            self.echo(f"skipped grid point {point.backend} {point.model} {point.point}: {point.reason}")
        for name in self.executor.cleanup(self.campaign.name):
            self.echo(f"removed container {name} left behind by an earlier `camp run`")

    def _run_pending(self, manifest: Manifest) -> CampaignOutcome:
        outcome = CampaignOutcome(already_done=manifest.counts()["done"])
        todo = deque(manifest.runs(states=("pending", "failed", "interrupted")))
        total = len(todo)
        if total == 0:
            self.echo(f"nothing to do: all {outcome.already_done} runs of {self.campaign.name!r} are done")
            return outcome
        self.executor.prepare({self.experiments[r.exp_id].backend for r in todo})
        pool = GpuPool(self.campaign.gpus)
        parallel = f", up to {pool.size} at a time on GPUs {','.join(pool.gpus)}" if pool.size > 1 else ""
        self.echo(
            f"{total} runs to do ({outcome.already_done} already done) with executor "
            f"{self.executor.name!r}{parallel}; results in {self.campaign_dir}"
        )
        attempts_left = {(r.exp_id, r.cycle): 1 + self.campaign.retries for r in todo}
        in_flight: dict[Future[ExecOutcome], _Flight] = {}
        previous: RunRow | None = None
        started = 0
        with ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="run") as threads:
            try:
                while (todo and not outcome.breaker_tripped) or in_flight:
                    while todo and not outcome.breaker_tripped:
                        row = todo[0]
                        need = self._gpus_needed(row)
                        if not pool.fits(need):
                            todo.popleft()
                            self._record_failure(
                                manifest,
                                outcome,
                                row,
                                f"needs {need} GPUs; the campaign lists {len(pool.gpus)} (gpus)",
                            )
                            continue
                        gpus = pool.take(need)
                        if gpus is None:
                            break
                        todo.popleft()
                        if pool.size == 1:
                            self._gap(previous, row)
                        previous = row
                        started += 1
                        request = self._start(manifest, row, gpus)
                        flight = _Flight(
                            row, request, time.monotonic(), f"[{started:>{len(str(total))}}/{total}]"
                        )
                        in_flight[threads.submit(self.executor.execute, request)] = flight
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        flight = in_flight.pop(future)
                        pool.give(flight.request.gpus)
                        self._settle(manifest, outcome, flight, future, attempts_left, todo)
            except KeyboardInterrupt:
                self._interrupt(manifest, in_flight)
                raise
        return outcome

    def _gpus_needed(self, row: RunRow) -> int:
        experiment = self.experiments[row.exp_id]
        return experiment.params.gpus_needed()

    def _settle(
        self,
        manifest: Manifest,
        outcome: CampaignOutcome,
        flight: _Flight,
        future: Future[ExecOutcome],
        attempts_left: dict[tuple[str, int], int],
        todo: deque[RunRow],
    ) -> None:
        """Record a finished run; retry it (next, before anything else) while attempts remain."""
        try:
            executed = future.result()
        except Exception as err:  # an executor bug must not lose the campaign's bookkeeping
            executed = ExecOutcome(None, "", error=f"executor failed: {err!r}")
        row = flight.row
        attempt = self._finish(manifest, row, flight.request, executed)
        took = time.monotonic() - flight.started
        prefix = f"{flight.prefix} {row.label} c{row.cycle}"
        if attempt.ok and attempt.result is not None:
            self.echo(f"{prefix}: done in {took:.1f}s — {progress_figures(attempt.result)}")
            outcome.done += 1
            self._consecutive_failures = 0
            return
        key = (row.exp_id, row.cycle)
        attempts_left[key] -= 1
        if attempts_left[key] > 0:
            self.echo(f"{prefix}: FAILED ({attempts_left[key]} attempts left, retrying): {attempt.reason}")
            todo.appendleft(row)
            return
        self.echo(f"{prefix}: FAILED: {attempt.reason}")
        self._count_failure(outcome, row, attempt.reason or "")

    def _record_failure(self, manifest: Manifest, outcome: CampaignOutcome, row: RunRow, reason: str) -> None:
        manifest.mark_finished(row.exp_id, row.cycle, "failed", error=reason)
        self.echo(f"{row.label} c{row.cycle}: FAILED: {reason}")
        self._count_failure(outcome, row, reason)

    def _count_failure(self, outcome: CampaignOutcome, row: RunRow, reason: str) -> None:
        outcome.failed += 1
        outcome.failures.append(f"{row.exp_id} c{row.cycle}: {reason}")
        self._consecutive_failures += 1
        limit = self.campaign.max_consecutive_failures
        if self._consecutive_failures >= limit and not outcome.breaker_tripped:
            outcome.breaker_tripped = True
            self.echo(
                f"stopping: {self._consecutive_failures} runs in a row failed (max_consecutive_failures="
                f"{limit}); fix the cause, then `camp run` again to resume"
            )

    def _interrupt(self, manifest: Manifest, in_flight: dict[Future[ExecOutcome], _Flight]) -> None:
        """Ctrl-C: kill every run in flight by name and mark it interrupted."""
        for flight in in_flight.values():
            self.executor.stop(flight.request)
        for future, flight in in_flight.items():
            with contextlib.suppress(Exception):
                future.result(timeout=STOP_GRACE_S)
            manifest.mark_finished(
                flight.row.exp_id, flight.row.cycle, "interrupted", error="interrupted by Ctrl-C"
            )

    def _gap(self, previous: RunRow | None, row: RunRow) -> None:
        if previous is None:
            return
        gap = self.campaign.gaps.between_runs_s
        if row.cycle != previous.cycle:
            gap = max(gap, self.campaign.gaps.between_cycles_s)
        if gap > 0:
            self.sleep(gap)

    def _start(self, manifest: Manifest, row: RunRow, gpus: tuple[str, ...]) -> RunRequest:
        """Write the run's spec (clearing any earlier attempt's outputs) and mark it running."""
        experiment = self.experiments[row.exp_id]
        files = layout.RunFiles(layout.run_dir(self.campaign_dir, row.exp_id, row.cycle))
        files.dir.mkdir(parents=True, exist_ok=True)
        # A result or failure from an earlier attempt must never be taken for this attempt's.
        for stale in files.harness_outputs:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        spec_path = files.spec
        atomic_write_text(spec_path, experiment.spec(self.campaign.name, row.cycle).model_dump_json(indent=2))
        manifest.mark_running(row.exp_id, row.cycle)
        return RunRequest(
            campaign=self.campaign.name,
            exp_id=row.exp_id,
            cycle=row.cycle,
            backend=experiment.backend,
            results_root=self.results_root,
            spec_path=spec_path,
            timeout_s=self.campaign.timeout_s,
            gpus=gpus,
        )

    def _finish(
        self, manifest: Manifest, row: RunRow, request: RunRequest, executed: ExecOutcome
    ) -> AttemptResult:
        """Done only with exit 0 and a valid result of this run; anything else is failed, with why."""
        files = layout.RunFiles(request.spec_path.parent)
        atomic_write_text(files.container_log, executed.output)
        if executed.error:
            reason = executed.error
        elif executed.timed_out:
            reason = f"timed out after {self.campaign.timeout_s:g}s (timeout_s); the container was killed"
        else:
            checked = check_result(files.result, row.exp_id, row.cycle)
            if checked.ok and executed.exit_code == 0:
                manifest.mark_finished(row.exp_id, row.cycle, "done", exit_code=0)
                return checked
            if executed.exit_code == 0:
                reason = checked.reason or ""
            else:
                reason = f"exited with code {executed.exit_code}"
                if executed.exit_code == 137:
                    reason += " (killed: out of memory or SIGKILL)"
                why = failure_reason(files.error, row.exp_id, row.cycle) or executed.last_line()[:300]
                if why:
                    reason += f" — {why}"
        manifest.mark_finished(
            row.exp_id,
            row.cycle,
            "failed",
            exit_code=executed.exit_code,
            error=reason,
            log_tail=executed.tail(),
        )
        return AttemptResult(False, reason)
