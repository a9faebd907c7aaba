"""Hard faults through `camp run`: SIGTERM as Ctrl-C, Ctrl-C wherever it lands, a crash loop
with endless retries, the executor gone mid-campaign."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from camp_contract.models import RunSpec
from orchestrator import cli
from orchestrator.executors import ExecOutcome, ExecutorUnavailable, RunRequest
from orchestrator.manifest import Manifest
from orchestrator.retry_policy import RetryPolicy
from tests.orchestrator.fakes import FakeExecutor, crash, succeed
from tests.orchestrator.test_cli import campaign_file, invoke  # noqa: F401  (a fixture)


def test_sigterm_stops_the_run_in_flight_marks_it_interrupted_and_exits_143(
    campaign_file: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executor = FakeExecutor()

    def sigterm(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        os.kill(os.getpid(), signal.SIGTERM)
        assert executor.stop_event.wait(10), "the runner never stopped the run"
        return ExecOutcome(137, "killed\n")

    executor.behaviours = [succeed, sigterm]
    results = tmp_path / "r"
    result = invoke(
        "run", str(campaign_file), "--results-dir", str(results), executor=executor, monkeypatch=monkeypatch
    )
    assert result.exit_code == 143, result.output
    assert "interrupted by SIGTERM" in result.output
    with Manifest.open_readonly(results / "t") as manifest:
        (interrupted,) = manifest.runs(states=("interrupted",))
        assert interrupted.error == "interrupted by SIGTERM" and manifest.counts()["done"] == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # camp put the handler back


@pytest.mark.parametrize("where", ["make_executor", "_print_summary"])
def test_ctrl_c_at_start_up_or_in_the_closing_summary_exits_130(
    campaign_file: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    monkeypatch.setattr(cli, where, ctrl_c)
    result = cli_invoke(campaign_file, tmp_path)
    assert result.exit_code == 130, result.output
    assert "interrupted by Ctrl-C" in result.output and "Aborted" not in result.output
    assert not list(tmp_path.rglob("*.tmp"))


def cli_invoke(campaign: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    return CliRunner().invoke(cli.main, ["run", str(campaign), "--results-dir", str(tmp_path / "r")])


def test_every_attempt_counts_toward_the_breaker_so_endless_retries_stop() -> None:
    policy = RetryPolicy(retries=1_000_000, max_consecutive_failures=5)
    attempts = 0
    while True:
        attempts += 1
        if policy.attempt_failed(("e", 0)) == 0:
            break
    assert attempts == 5 and policy.tripped and policy.run_failed()


def test_a_deterministic_crash_with_many_retries_stops_the_campaign(
    campaign_file: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # retries: 100, the most a campaign may ask: the breaker still stops it after 5 attempts
    campaign_file.write_text(campaign_file.read_text().replace("retries: 0", "retries: 100"))
    executor = FakeExecutor([crash])
    result = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(tmp_path / "r"),
        executor=executor,
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 1
    assert len(executor.requests) == 5  # max_consecutive_failures' default
    assert "stopping: 5 attempts in a row failed" in result.output


def test_the_executor_gone_mid_campaign_is_a_clear_error_and_the_next_run_keeps_what_finished(
    campaign_file: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def engine_gone(request: RunRequest, spec: RunSpec) -> ExecOutcome:
        raise ExecutorUnavailable("the Docker engine stopped answering (connection refused)")

    results = tmp_path / "r"
    first = invoke(
        "run",
        str(campaign_file),
        "--results-dir",
        str(results),
        executor=FakeExecutor([succeed, engine_gone]),
        monkeypatch=monkeypatch,
    )
    assert first.exit_code == 1 and "error: the Docker engine stopped answering" in first.output
    assert "Traceback" not in first.output
    with Manifest.open_readonly(results / "t") as manifest:
        counts = manifest.counts()
    assert counts["done"] == 1 and counts["interrupted"] == 1 and counts["failed"] == 0
    resumed = FakeExecutor([succeed])
    again = invoke(
        "run", str(campaign_file), "--results-dir", str(results), executor=resumed, monkeypatch=monkeypatch
    )
    assert again.exit_code == 0 and len(resumed.requests) == 3
