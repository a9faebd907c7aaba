from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from camp_contract.atomic import atomic_write_text
from camp_contract.layout import RESULT_FILENAME, RunFiles, run_dir
from camp_contract.models import RunResult, RunSpec, RunWarning
from orchestrator.campaign import Campaign, parse_campaign
from orchestrator.executors import ExecOutcome, RunRequest
from orchestrator.grid import expand
from orchestrator.manifest import Manifest, RunRow
from orchestrator.runner import CampaignRunner
from orchestrator.units import format_number
from tests.factories import make_result, run_spec
from tests.orchestrator.fakes import (
    FakeExecutor,
    crash,
    exit_zero_without_result,
    harness_fails,
    harness_fails_naming_another_run,
    invalid_result,
    succeed,
    time_out,
)

TEXT = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2]}}
cycles: 2
retries: 0
gaps: {between_runs_s: 1, between_cycles_s: 5}
"""


def campaign(extra: str = "") -> Campaign:
    return parse_campaign(TEXT + extra, Path("c.yaml"))


def run(
    tmp_path: Path, executor: FakeExecutor, c: Campaign | None = None
) -> tuple[CampaignRunner, list[str]]:
    messages: list[str] = []
    sleeps: list[float] = []
    runner = CampaignRunner(c or campaign(), tmp_path, executor, messages.append, sleep=sleeps.append)
    runner.outcome = runner.run()  # type: ignore[attr-defined]
    runner.sleeps = sleeps  # type: ignore[attr-defined]
    return runner, messages


def states(tmp_path: Path) -> dict[str, int]:
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        return manifest.counts()


def test_every_run_done_once_with_spec_result_and_log(tmp_path: Path) -> None:
    executor = FakeExecutor()
    runner, messages = run(tmp_path, executor)
    assert states(tmp_path)["done"] == 4
    assert len(executor.requests) == 4
    for request in executor.requests:
        directory = run_dir(tmp_path / "t", request.exp_id, request.cycle)
        assert (directory / "spec.json").is_file()
        assert (
            RunResult.model_validate_json((directory / RESULT_FILENAME).read_text()).exp_id == request.exp_id
        )
        assert (directory / "container.log").read_text() == "harness: ok\n"
    assert runner.sleeps == [1, 5, 1]  # type: ignore[attr-defined]
    assert any("J/token" in m for m in messages)
    assert json.loads((tmp_path / "t" / "campaign.json").read_text())["name"] == "t"


def test_rerun_has_nothing_left_to_do(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor())
    executor = FakeExecutor()
    _, messages = run(tmp_path, executor)
    assert executor.requests == []
    assert any("nothing to do" in m for m in messages)


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (crash, "exited with code 3"),
        (exit_zero_without_result, "no result.json was written"),
        (invalid_result, "result.json is invalid"),
        (time_out, "timed out after"),
    ],
)
def test_failures_are_recorded_and_the_campaign_goes_on(tmp_path: Path, behaviour, reason: str) -> None:
    executor = FakeExecutor([behaviour, succeed])
    run(tmp_path, executor)
    assert states(tmp_path) == {"pending": 0, "running": 0, "done": 3, "failed": 1, "interrupted": 0}
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        failed = manifest.runs(states=("failed",))[0]
    assert reason in (failed.error or "")
    assert failed.exit_code == {crash: 3, time_out: 124}.get(behaviour, 0)


def test_crash_keeps_the_log_tail(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([crash, succeed]))
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        failed = manifest.runs(states=("failed",))[0]
        assert "CUDA error: out of memory" in (manifest.log_tail(failed.exp_id, failed.cycle) or "")
    assert "out of memory" in (failed.error or "")


def failed_run(tmp_path: Path) -> RunRow:
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        (failed,) = manifest.runs(states=("failed",))
    return failed


def test_the_reason_is_the_harness_error_json_where_it_wrote_one(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([harness_fails, succeed]))
    failed = failed_run(tmp_path)
    assert failed.exit_code == 1
    assert failed.error == "exited with code 1 — [run] RuntimeError: injected fault: the backend crashed"


def test_without_error_json_the_reason_is_the_last_line_printed(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([crash, succeed]))
    assert failed_run(tmp_path).error == "exited with code 3 — RuntimeError: CUDA error: out of memory"


def test_an_error_json_of_another_run_is_not_this_runs_reason(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([harness_fails_naming_another_run, succeed]))
    assert failed_run(tmp_path).error == "exited with code 1 — [sampler] stopped"


def test_a_stale_error_json_is_removed_before_the_next_attempt(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([harness_fails, succeed]))
    failed = failed_run(tmp_path)
    error_json = RunFiles(run_dir(tmp_path / "t", failed.exp_id, failed.cycle)).error
    assert error_json.is_file()
    run(tmp_path, FakeExecutor([crash]))  # this attempt dies without saying why
    assert failed_run(tmp_path).error == "exited with code 3 — RuntimeError: CUDA error: out of memory"
    assert not error_json.exists()
    run(tmp_path, FakeExecutor([succeed]))
    assert states(tmp_path)["done"] == 4 and not error_json.exists()


def test_retries_then_success(tmp_path: Path) -> None:
    executor = FakeExecutor([crash, succeed])
    run(tmp_path, executor, campaign().model_copy(update={"retries": 1}))
    assert states(tmp_path)["done"] == 4
    assert len(executor.requests) == 5
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        assert max(r.attempts for r in manifest.runs()) == 2


def test_failed_runs_are_retried_by_the_next_camp_run(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([crash, succeed]))
    executor = FakeExecutor()
    run(tmp_path, executor)
    assert len(executor.requests) == 1
    assert states(tmp_path)["done"] == 4


def test_stale_result_from_an_earlier_attempt_is_never_accepted(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor([crash, succeed]))
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        failed = manifest.runs(states=("failed",))[0]
    directory = run_dir(tmp_path / "t", failed.exp_id, failed.cycle)
    # a result left behind by some earlier attempt
    other = next(p for p in (tmp_path / "t").glob("*/c*/result.json"))
    (directory / RESULT_FILENAME).write_text(other.read_text())
    run(tmp_path, FakeExecutor([exit_zero_without_result]))
    assert states(tmp_path)["failed"] == 1


def test_circuit_breaker_stops_after_consecutive_failures(tmp_path: Path) -> None:
    executor = FakeExecutor([crash])
    runner, messages = run(tmp_path, executor, campaign("max_consecutive_failures: 2\n"))
    assert len(executor.requests) == 2
    assert runner.outcome.breaker_tripped  # type: ignore[attr-defined]
    assert states(tmp_path)["pending"] == 2
    assert any("2 attempts in a row failed" in m for m in messages)


def test_ctrl_c_marks_the_run_interrupted_and_resume_continues(tmp_path: Path) -> None:
    interrupted = FakeExecutor()
    interrupted.behaviours = [succeed, interrupted.ctrl_c]
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, interrupted)
    assert states(tmp_path)["interrupted"] == 1 and states(tmp_path)["done"] == 1
    assert len(interrupted.stopped) == 1
    executor = FakeExecutor()
    run(tmp_path, executor)
    assert len(executor.requests) == 3 and states(tmp_path)["done"] == 4


def test_leftover_containers_are_cleaned_and_reported(tmp_path: Path) -> None:
    executor = FakeExecutor(leftovers=["camp-abc-c0"])
    _, messages = run(tmp_path, executor)
    assert any("removed container camp-abc-c0" in m for m in messages)


def test_rejected_points_are_reported_not_run(tmp_path: Path) -> None:
    text = (
        TEXT.replace("stub: {grid: {batch_size: [1, 2]}}", "stub: {grid: {batch_size: [1, 2]}}\n  vllm: {}")
        + "grid: {batch_size: [1]}\n"
    )
    executor = FakeExecutor()
    _, messages = run(tmp_path, executor, parse_campaign(text, Path("c.yaml")))
    assert any(m.startswith("skipped grid point vllm") for m in messages)
    assert all(r.backend == "stub" for r in executor.requests)


def test_runs_go_one_per_gpu_in_parallel_and_tensor_parallel_takes_several(tmp_path: Path) -> None:
    import threading

    text = """
name: t
models: [m]
backends:
  stub: {grid: {batch_size: [1, 2, 3]}}
  vllm: {grid: {tensor_parallel_size: [2]}}
cycles: 1
gpus: [0, 1]
"""
    lock = threading.Lock()
    busy: set[str] = set()
    overlaps: list[int] = []
    barrier = threading.Barrier(2, timeout=5)

    def use_gpus(request, spec):
        with lock:
            assert not busy & set(request.gpus), "a GPU was given to two runs at once"
            busy.update(request.gpus)
            overlaps.append(len(busy))
        if spec.backend == "stub" and spec.params.batch_size in (1, 2):
            barrier.wait()  # the first two stub runs must be in flight together
        with lock:
            busy.difference_update(request.gpus)
        return succeed(request, spec)

    executor = FakeExecutor([use_gpus])
    run(tmp_path, executor, parse_campaign(text, Path("c.yaml")))
    assert states(tmp_path)["done"] == 4
    by_backend = {r.backend: r.gpus for r in executor.requests}
    assert by_backend["vllm"] == ("0", "1")
    assert all(len(r.gpus) == 1 for r in executor.requests if r.backend == "stub")
    assert max(overlaps) == 2


def test_a_run_needing_more_gpus_than_listed_fails_with_the_reason(tmp_path: Path) -> None:
    text = "name: t\nmodels: [m]\nbackends: {vllm: {grid: {tensor_parallel_size: [4]}}}\ngpus: [0, 1]\n"
    executor = FakeExecutor()
    run(tmp_path, executor, parse_campaign(text, Path("c.yaml")))
    assert executor.requests == []
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        assert "needs 4 GPUs; the campaign lists 2" in (manifest.runs()[0].error or "")


def test_changed_campaign_keeps_finished_runs_adds_new_and_reports_removed(tmp_path: Path) -> None:
    run(tmp_path, FakeExecutor())
    changed = parse_campaign(TEXT.replace("batch_size: [1, 2]", "batch_size: [2, 8]"), Path("c.yaml"))
    executor = FakeExecutor()
    _, messages = run(tmp_path, executor, changed)
    assert {r.cycle for r in executor.requests} == {0, 1} and len(executor.requests) == 2  # only batch 8
    assert any("1 experiments kept with their results, 1 added, 1 removed" in m for m in messages)
    assert any(m.strip().startswith("removed from the campaign") for m in messages)
    assert states(tmp_path)["done"] == 4  # the active view: batch 2 (kept) and batch 8 (new)


def _succeed_warned(request: RunRequest, spec: RunSpec) -> ExecOutcome:
    """A run that finishes with a throttled GPU and no output tokens."""
    result = make_result(spec)
    metrics = result.metrics.model_copy(update={"output_tokens": 0, "energy_per_output_token_j": math.nan})
    warnings = (
        RunWarning(kind="throttled", message="GPU throttled during the measured window: software power cap"),
        RunWarning(kind="no_output_tokens", message="the backend generated no output tokens"),
    )
    result = result.model_copy(update={"metrics": metrics, "warnings": warnings})
    atomic_write_text(request.spec_path.parent / RESULT_FILENAME, result.model_dump_json())
    return ExecOutcome(0, "")


def test_the_progress_line_shows_a_runs_warnings(tmp_path: Path) -> None:
    _, messages = run(tmp_path, FakeExecutor([succeed, _succeed_warned, succeed]))
    done = [m for m in messages if ": done in " in m]
    assert len(done) == 4 and "⚠" not in done[0] and "⚠" not in done[2]
    first, *details = done[1].splitlines()
    tokens_s = make_result(run_spec()).metrics.throughput_tokens_per_s
    assert first.endswith(
        f"J/token undefined (no output tokens), {format_number(tokens_s)} tokens/s"
        " — ⚠ WARNED: no_output_tokens, throttled"
    )
    assert details == [
        "      ⚠ throttled: GPU throttled during the measured window: software power cap",
        "      ⚠ no_output_tokens: the backend generated no output tokens",
    ]


def test_the_log_is_redacted_whichever_runtime_printed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")

    def leaks(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        return ExecOutcome(3, "using hf_secret_value_123\nRuntimeError: token hf_secret_value_123 refused\n")

    run(tmp_path, FakeExecutor([leaks, succeed]))
    failed = failed_run(tmp_path)
    log = RunFiles(run_dir(tmp_path / "t", failed.exp_id, failed.cycle)).container_log.read_text()
    with Manifest.open_readonly(tmp_path / "t") as manifest:
        tail = manifest.log_tail(failed.exp_id, failed.cycle) or ""
    assert "<HF_TOKEN redacted>" in log and "<HF_TOKEN redacted>" in tail
    assert failed.error == "exited with code 3 — RuntimeError: token <HF_TOKEN redacted> refused"
    assert "hf_secret_value_123" not in log + tail


def _counters(messages: list[str]) -> list[str]:
    """The run counters (`[ 3/4]`) of the progress lines, in order."""
    return [m.split("]", 1)[0] + "]" for m in messages if m.startswith("[")]


def test_the_counter_counts_runs_not_attempts(tmp_path: Path) -> None:
    """A retry keeps its run's number: before, retries gave [5/4]."""
    _, messages = run(tmp_path, FakeExecutor([crash, succeed]), campaign().model_copy(update={"retries": 1}))
    counters = _counters(messages)
    assert len(counters) == 5  # four runs, one of them attempted twice
    assert counters[0] == counters[1] == "[1/4]"  # the crash and its retry: one run
    assert counters[2:] == ["[2/4]", "[3/4]", "[4/4]"]


def test_a_resumed_campaign_counts_on_from_the_runs_already_done(tmp_path: Path) -> None:
    interrupted = FakeExecutor()
    interrupted.behaviours = [succeed, interrupted.ctrl_c]
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, interrupted)
    _, messages = run(tmp_path, FakeExecutor())
    assert _counters(messages) == ["[2/4]", "[3/4]", "[4/4]"]  # one was done: not [1/3]


def test_a_runner_given_the_expansion_does_not_expand_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = campaign()
    expansion = expand(c)

    def again(_: Campaign) -> None:
        raise AssertionError("expanded a second time")

    monkeypatch.setattr("orchestrator.runner.expand", again)
    runner = CampaignRunner(c, tmp_path, FakeExecutor(), [].append, expansion=expansion)
    assert runner.run().done == 4 and runner.expansion is expansion
