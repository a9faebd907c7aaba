"""Running a campaign: the manifest's pending runs, dispatched in schedule order, each once its
placement grants it a lease, through the executor's runtime.

A run is done only when its attempt left a valid result of its own (attempt.py); anything else —
a crash, a non-zero exit, a timeout, a missing or invalid result — is recorded as failed with
the exit code, the reason and the log tail, retried while it has attempts left, and the
campaign goes on until the circuit breaker trips (retry_policy.py). Ctrl-C (or SIGTERM, see
signals.py) marks the runs in flight ``interrupted`` and stops; so does an executor that becomes
unavailable mid-campaign (the Docker engine gone: ExecutorUnavailable from ``execute``), which
costs no run an attempt; the next ``camp run`` picks up exactly there. What it says as
it goes is in run_messages.py.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from camp_contract import layout
from camp_contract.atomic import atomic_write_text
from orchestrator import run_messages
from orchestrator.attempt import AttemptResult, begin_attempt, check_result, judge_attempt
from orchestrator.campaign import Campaign
from orchestrator.executors import (
    Demand,
    ExecOutcome,
    ExecutorUnavailable,
    Lease,
    Placement,
    RunRequest,
    Runtime,
    make_placement,
)
from orchestrator.executors.runtime import campaign_owner
from orchestrator.grid import Expansion, Experiment, expand
from orchestrator.lock import campaign_lock
from orchestrator.manifest import Manifest, ManifestDamaged, RunRow
from orchestrator.progress_view import ProgressView
from orchestrator.resolved import campaign_snapshot
from orchestrator.retry_policy import RetryPolicy
from orchestrator.schedule import schedule
from orchestrator.signals import interruption_cause

STOP_GRACE_S = 60.0

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
    lease: Lease
    started: float
    counter: str


def campaign_fingerprint(campaign: Campaign) -> str:
    import hashlib

    return hashlib.sha256(campaign.model_dump_json().encode()).hexdigest()[:16]


class CampaignRunner:
    def __init__(
        self,
        campaign: Campaign,
        results_root: Path,
        runtime: Runtime,
        echo: Echo,
        sleep: Callable[[float], None] = time.sleep,
        placement: Placement | None = None,
        overrides: Sequence[str] = (),
        view: ProgressView | None = None,
        expansion: Expansion | None = None,
    ):
        """``echo`` says each line; ``view`` (progress_view.py), where given, shows the campaign
        as it goes instead, lines included."""
        self.campaign = campaign
        self.overrides = tuple(overrides)  # the `-s KEY=VALUE` it was given, kept in campaign.json
        self.results_root = results_root
        self.campaign_dir = layout.campaign_dir(results_root, campaign.name)
        self.owner = campaign_owner(self.campaign_dir)
        self.runtime = runtime
        self.placement = placement if placement is not None else make_placement(runtime.name, campaign)
        self.view = view if view is not None else ProgressView(echo)
        self.echo = self.view.echo
        self.sleep = sleep
        # the command line has expanded the campaign already (to refuse one that runs nothing)
        self.expansion: Expansion = expansion if expansion is not None else expand(campaign)
        self.experiments: dict[str, Experiment] = {e.exp_id: e for e in self.expansion.experiments}
        self.retry = RetryPolicy(campaign.retries, campaign.max_consecutive_failures)
        # Job ids a scheduler gave runs in flight, reported from their threads and written to the
        # manifest here, by the one thread that writes it.
        self._job_ids: queue.SimpleQueue[tuple[str, int, str]] = queue.SimpleQueue()
        self._dispatched: set[tuple[str, int]] = set()

    def run(self) -> CampaignOutcome:
        with campaign_lock(self.campaign_dir), Manifest.open(self.campaign_dir) as manifest:
            try:
                self._prepare(manifest)
                return self._run_pending(manifest)
            finally:
                self.view.close()
                self.placement.close()

    def _prepare(self, manifest: Manifest) -> None:
        order = schedule(
            list(self.experiments), self.campaign.cycles, self.campaign.order.mode, self.campaign.order.seed
        )
        fresh = manifest.meta("campaign") is None  # new, deleted, or kept aside as damaged
        report = manifest.sync(
            self.campaign.name, campaign_fingerprint(self.campaign), self.expansion.experiments, order
        )
        if manifest.kept_aside:
            self.echo(f"warning: {manifest.kept_aside}")
        self._reconcile_with_disk(manifest, fresh)
        atomic_write_text(
            layout.campaign_snapshot_path(self.campaign_dir), campaign_snapshot(self.campaign, self.overrides)
        )
        for line in run_messages.sync_lines(report, self.expansion.rejected):
            self.echo(line)
        for name in self.runtime.cleanup(self.owner):
            self.echo(run_messages.leftover_line(name))

    def _reconcile_with_disk(self, manifest: Manifest, fresh: bool) -> None:
        """The results on disk are the ground truth: a new manifest adopts every valid result
        already there (a manifest deleted or damaged loses no run), and a run marked done whose
        result.json is gone or invalid is marked for redoing, and said so."""
        adopted: list[tuple[str, int]] = []
        if fresh:  # only runs whose directory holds a result.json can be adopted
            with_result = set(layout.run_dirs_with_result(self.campaign_dir))
            rows = manifest.runs(states=("pending", "failed", "interrupted")) if with_result else []
        else:
            rows = manifest.runs(states=("done",))
        for row in rows:
            run_dir = layout.run_dir(self.campaign_dir, row.exp_id, row.cycle)
            if fresh and run_dir not in with_result:
                continue
            checked = check_result(layout.RunFiles(run_dir).result, row.exp_id, row.cycle)
            if fresh and checked.ok:
                adopted.append((row.exp_id, row.cycle))
            elif not fresh and not checked.ok:
                reason = (checked.reason or "its result.json is unusable").replace(
                    "no result.json was written", "its result.json is missing"
                )
                manifest.redo(row.exp_id, row.cycle, reason)
                self.echo(run_messages.redo_line(row.exp_id, row.cycle, reason))
        if adopted:
            manifest.adopt(adopted, "adopted: its valid result.json was on disk")
            self.echo(run_messages.adopted_line(len(adopted), self.campaign_dir))

    def _run_pending(self, manifest: Manifest) -> CampaignOutcome:
        outcome = CampaignOutcome(already_done=manifest.counts()["done"])
        todo = deque(manifest.runs(states=("pending", "failed", "interrupted")))
        total = len(todo)
        if total == 0:
            self.echo(run_messages.nothing_to_do_line(outcome.already_done, self.campaign.name))
            return outcome
        self.runtime.prepare({self.experiments[r.exp_id].backend for r in todo})
        self.echo(
            run_messages.start_line(
                total, outcome.already_done, self.runtime.name, self.placement.describe(), self.campaign_dir
            )
        )
        self.view.begin(total, outcome.already_done)
        in_flight: dict[Future[ExecOutcome], _Flight] = {}
        previous: RunRow | None = None
        # Each run's place in the whole campaign, given at its first attempt: a retry keeps it
        # (runs are counted, not attempts) and a resumed campaign counts on from what was done.
        numbers: dict[tuple[str, int], int] = {}
        campaign_total = outcome.already_done + total
        with ThreadPoolExecutor(max_workers=self.placement.slots, thread_name_prefix="run") as threads:
            try:
                while (todo and not self.retry.tripped) or in_flight:
                    # Head of line in schedule order, so the order stays deterministic.
                    while todo and not self.retry.tripped:
                        row = todo[0]
                        demand = self._demand(row)
                        refused = self.placement.refuse(demand)
                        if refused is not None:
                            todo.popleft()
                            manifest.mark_finished(row.exp_id, row.cycle, "failed", error=refused)
                            self.retry.attempt_failed((row.exp_id, row.cycle))
                            self._failed_for_good(outcome, row, f"{row.label} c{row.cycle}", refused, None)
                            continue
                        lease = self.placement.acquire(demand)
                        if lease is None:
                            break
                        todo.popleft()
                        if self.placement.slots == 1:
                            self._gap(previous, row)
                        previous = row
                        number = numbers.setdefault(
                            (row.exp_id, row.cycle), outcome.already_done + len(numbers) + 1
                        )
                        request = self._start(manifest, row, lease)
                        flight = _Flight(
                            row,
                            request,
                            lease,
                            time.monotonic(),
                            run_messages.counter(number, campaign_total),
                        )
                        self.view.run_started(
                            (row.exp_id, row.cycle),
                            f"{flight.counter} {row.label} c{row.cycle}",
                            layout.RunFiles(request.spec_path.parent).progress,
                        )
                        in_flight[threads.submit(self.runtime.execute, request)] = flight
                    if not in_flight:
                        if todo and not self.retry.tripped:
                            self._await_placement()
                        continue
                    finished, _ = wait(in_flight, timeout=self.placement.poll_s, return_when=FIRST_COMPLETED)
                    self._record_job_ids(manifest)
                    for future in finished:
                        flight = in_flight[future]
                        if isinstance(future.exception(), ExecutorUnavailable):
                            raise future.exception()  # type: ignore[misc]
                        in_flight.pop(future)
                        self.placement.release(flight.lease)
                        self._settle(manifest, outcome, flight, future, todo)
            except KeyboardInterrupt as err:
                self._interrupt(manifest, in_flight, f"interrupted by {interruption_cause(err)}")
                raise
            except (ExecutorUnavailable, ManifestDamaged) as err:
                self._interrupt(manifest, in_flight, f"not run: {err}")
                raise
            finally:
                self._record_job_ids(manifest)
        return outcome

    def _gpus_needed(self, row: RunRow) -> int:
        experiment = self.experiments[row.exp_id]
        return experiment.params.gpus_needed()

    def _demand(self, row: RunRow) -> Demand:
        return Demand(
            campaign=self.campaign.name,
            exp_id=row.exp_id,
            cycle=row.cycle,
            backend=self.experiments[row.exp_id].backend,
            gpus=self._gpus_needed(row),
            timeout_s=self.campaign.timeout_s,
        )

    def _await_placement(self) -> None:
        """Nothing runs and the placement granted nothing: only it can make room, later."""
        if self.placement.poll_s is None:
            raise RuntimeError(f"placement {self.placement.name!r} granted no lease with no run in flight")
        time.sleep(self.placement.poll_s)

    def _settle(
        self,
        manifest: Manifest,
        outcome: CampaignOutcome,
        flight: _Flight,
        future: Future[ExecOutcome],
        todo: deque[RunRow],
    ) -> None:
        """Record a finished run; retry it (next, before anything else) while attempts remain."""
        try:
            executed = future.result()
        except Exception as err:  # a runtime bug must not lose the campaign's bookkeeping
            executed = ExecOutcome(None, "", error=f"executor failed: {err!r}")
        row = flight.row
        attempt = self._finish(manifest, row, executed)
        took = time.monotonic() - flight.started
        run = f"{flight.counter} {row.label} c{row.cycle}"
        key = (row.exp_id, row.cycle)
        if attempt.ok and attempt.result is not None:
            self.view.run_ended(key, "done")
            self.echo(run_messages.done_line(run, took, attempt.result, self.view.note()))
            outcome.done += 1
            self.retry.run_succeeded()
            return
        attempts_left = self.retry.attempt_failed(key)
        if attempts_left > 0:
            self.view.run_ended(key, "retry")
            self.echo(run_messages.retry_line(run, attempts_left, attempt.reason))
            todo.appendleft(row)
            return
        self._failed_for_good(outcome, row, run, attempt.reason or "", key)

    def _failed_for_good(
        self, outcome: CampaignOutcome, row: RunRow, run: str, reason: str, key: tuple[str, int] | None
    ) -> None:
        """``key`` None: the run was refused before any attempt started."""
        self.view.run_ended(key, "failed")
        self.echo(run_messages.failed_line(run, reason, self.view.note()))
        outcome.failed += 1
        outcome.failures.append(f"{row.exp_id} c{row.cycle}: {reason}")
        if self.retry.run_failed():
            outcome.breaker_tripped = True
            self.echo(
                run_messages.breaker_line(
                    self.retry.consecutive_failures, self.retry.max_consecutive_failures
                )
            )

    def _interrupt(
        self, manifest: Manifest, in_flight: dict[Future[ExecOutcome], _Flight], reason: str
    ) -> None:
        """Ctrl-C, SIGTERM or the executor gone: kill every run in flight by name and mark it
        interrupted (no attempt is spent: the next ``camp run`` starts it again)."""
        for flight in in_flight.values():
            self.runtime.stop(flight.request)
        for future, flight in in_flight.items():
            with contextlib.suppress(Exception):
                future.result(timeout=STOP_GRACE_S)
            self.placement.release(flight.lease)
            self.view.run_interrupted((flight.row.exp_id, flight.row.cycle))
            with contextlib.suppress(ManifestDamaged):  # gone: the next start rebuilds it from disk
                manifest.mark_finished(flight.row.exp_id, flight.row.cycle, "interrupted", error=reason)

    def _record_job_ids(self, manifest: Manifest) -> None:
        while not self._job_ids.empty():
            manifest.record_job(*self._job_ids.get_nowait())

    def _gap(self, previous: RunRow | None, row: RunRow) -> None:
        if previous is None:
            return
        gap, why = self.campaign.gaps.between_runs_s, "between runs (gaps.between_runs_s)"
        if row.cycle != previous.cycle and self.campaign.gaps.between_cycles_s >= gap:
            gap, why = self.campaign.gaps.between_cycles_s, "between cycles (gaps.between_cycles_s)"
        if gap > 0:
            self.view.waiting(gap, why)
            self.sleep(gap)

    def _start(self, manifest: Manifest, row: RunRow, lease: Lease) -> RunRequest:
        """Begin the attempt's files, mark the run running, and say what the runtime gets."""
        experiment = self.experiments[row.exp_id]
        files = layout.RunFiles(layout.run_dir(self.campaign_dir, row.exp_id, row.cycle))
        # A run a killed `camp run` left with a job (still queued, running, or done meanwhile):
        # its runtime waits on that job, whose files must stay as they are.
        # Only once: a retry of it in this process is a new attempt.
        attach = None
        if row.job_id and row.state == "pending" and getattr(self.runtime, "reattaches", False):
            attach = row.job_id if (row.exp_id, row.cycle) not in self._dispatched else None
        self._dispatched.add((row.exp_id, row.cycle))
        if attach is None:
            begin_attempt(files, experiment.spec(self.campaign.name, row.cycle))
        manifest.mark_running(row.exp_id, row.cycle)
        return RunRequest(
            campaign=self.campaign.name,
            exp_id=row.exp_id,
            cycle=row.cycle,
            backend=experiment.backend,
            results_root=self.results_root,
            spec_path=files.spec,
            timeout_s=self.campaign.timeout_s,
            gpus=lease.gpus,
            env=lease.env,
            launcher=lease.launcher,
            owner=self.owner,
            attach_job=attach,
            on_job=lambda job_id: self._job_ids.put((row.exp_id, row.cycle, job_id)),
        )

    def _finish(self, manifest: Manifest, row: RunRow, executed: ExecOutcome) -> AttemptResult:
        """Judge the attempt from its files and record the verdict in the manifest."""
        files = layout.RunFiles(layout.run_dir(self.campaign_dir, row.exp_id, row.cycle))
        attempt = judge_attempt(files, row.exp_id, row.cycle, executed, self.campaign.timeout_s)
        if attempt.ok:
            manifest.mark_finished(row.exp_id, row.cycle, "done", exit_code=0)
        else:
            manifest.mark_finished(
                row.exp_id,
                row.cycle,
                "failed",
                exit_code=attempt.exit_code,
                error=attempt.reason,
                log_tail=attempt.log_tail,
            )
        return attempt
