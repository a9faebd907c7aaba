"""A whole server-mode run of the stub: in process, through ``camp-harness run``, through
``camp run --executor local``, and the server stopped when the run fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from camp_contract import layout
from camp_contract import requests_table as rt
from camp_contract import timeseries as ts
from camp_contract.atomic import atomic_write_text
from camp_contract.models import (
    BaselineSettings,
    MeasurementSettings,
    RunResult,
    RunSpec,
    SettleSettings,
    Workload,
)
from harness.backends.pytorch import PyTorchBackend
from harness.run import RunError, run_experiment
from harness.serving import run_server
from harness.serving.handle import healthy
from harness.serving.stub_process import StubServerProcess
from tests.factories import run_spec

ROOT = Path(__file__).resolve().parents[2]


def server_spec(**workload: object) -> RunSpec:
    return run_spec(
        params={"batch_size": 4, "work_ms_per_token": 4.0},
        workload=Workload(
            mode="server",
            **{"request_rate": 30.0, "duration_s": 1.5, "warmup_s": 0.5, "n_requests": 8, **workload},  # type: ignore[arg-type]
            max_input_tokens=8,
            max_output_tokens=6,
        ),
        measurement=MeasurementSettings(
            power_source="synthetic",
            sample_hz=100,
            baseline=BaselineSettings(duration_s=0.2),
            settle=SettleSettings(probe_s=0.1, poll_s=0.05, steady_s=0.2),
        ),
    )


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[StubServerProcess]:
    """The stub servers the runs start (child processes), to check on them afterwards."""
    servers: list[StubServerProcess] = []
    real = run_server.start_server

    def recording(backend: object, spec: RunSpec, source: object) -> object:
        server = real(backend, spec, source)
        assert isinstance(server, StubServerProcess)
        servers.append(server)
        return server

    monkeypatch.setattr(run_server, "start_server", recording)
    return servers


def stopped(server: StubServerProcess) -> bool:
    """The child exited, its port no longer answers, and every power hold it reported is released."""
    return server.server.process.poll() is not None and not healthy(server.base_url) and not server.relay.held


def test_a_server_mode_run_meters_the_steady_window_and_writes_every_file(
    tmp_path: Path, started: list[StubServerProcess]
) -> None:
    result = run_experiment(server_spec(), tmp_path)
    serving = result.serving
    assert serving is not None
    # the server ran as a child process, as vllm serve does, and was stopped cleanly (SIGTERM)
    assert len(started) == 1 and stopped(started[0]) and started[0].server.process.returncode == 0
    assert serving.arrival == "poisson" and serving.target_rate_rps == 30.0
    assert serving.window_s == pytest.approx(1.5, abs=0.05)
    assert serving.requests_completed > 10 and serving.requests_failed == 0
    assert serving.output_tokens_in_window > 0
    # energy is the window's, divided by the work done inside it
    adjusted = result.energy.adjusted_j
    assert serving.energy_per_request_j == pytest.approx(adjusted / serving.requests_completed)
    assert serving.energy_per_output_token_j == pytest.approx(
        adjusted / serving.output_tokens_in_window, rel=0.01
    )
    assert result.metrics.n_requests == serving.requests_completed
    assert result.metrics.latency_p90_s == serving.e2e.p90_s
    assert result.baseline.method == "synthetic" and result.baseline.power_w == 40.0
    assert result.requests == ()
    assert {w.kind for w in result.warnings} <= {"short_window"}  # no load or server warning

    requests = pq.read_table(tmp_path / "requests.parquet")
    assert requests.schema == rt.SCHEMA
    rows = requests.to_pylist()
    assert {r[rt.PHASE] for r in rows} >= {"warmup", "measured"}
    assert sum(r[rt.PHASE] == "measured" for r in rows) == serving.requests_scheduled
    assert all(r[rt.OUTPUT_TOKENS] == 6 and len(r[rt.ITL_S]) == 5 for r in rows)
    assert all(r[rt.SCHEDULED_S] <= r[rt.SENT_S] < r[rt.FIRST_TOKEN_S] <= r[rt.LAST_TOKEN_S] for r in rows)

    trace = pq.read_table(tmp_path / "timeseries.parquet").to_pandas()
    assert {"load", "baseline", "warmup", "measured", "drain"} <= set(trace[ts.PHASE])
    in_flight = trace.groupby(ts.PHASE)[ts.REQUESTS_IN_FLIGHT]
    assert in_flight.max()["measured"] >= 1 and in_flight.max()["baseline"] == 0
    # the window's power follows the batch: above the one-request level when several ran at once
    assert trace[trace[ts.PHASE] == "measured"][ts.POWER_W].max() > 160.0


def test_camp_harness_runs_a_server_mode_spec(tmp_path: Path) -> None:
    spec = server_spec(arrival="concurrency", request_rate=None, concurrency=2, duration_s=0.6, warmup_s=0.2)
    path = layout.run_files(tmp_path, spec.campaign, spec.exp_id, spec.cycle).spec
    atomic_write_text(path, spec.model_dump_json())
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = RunResult.model_validate_json((path.parent / "result.json").read_text())
    assert (
        result.serving is not None and result.serving.concurrency == 2 and result.serving.max_in_flight == 2
    )
    assert (path.parent / "requests.parquet").exists()


def test_the_server_is_stopped_when_the_load_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[StubServerProcess]
) -> None:
    seen: list[bool] = []

    async def broken(base_url: str, *args: object, **kwargs: object) -> None:
        seen.append(healthy(base_url))
        raise RuntimeError("load generator broke")

    monkeypatch.setattr(run_server, "drive", broken)
    with pytest.raises(RuntimeError, match="load generator broke"):
        run_experiment(server_spec(), tmp_path)
    assert seen == [True]  # the server was up when the load began...
    assert len(started) == 1 and stopped(started[0])  # ...and is gone after the failure
    assert not (tmp_path / "result.json").exists()


def test_a_backend_without_a_server_cannot_run_server_mode() -> None:
    with pytest.raises(RunError, match="backend pytorch cannot serve"):
        run_server.start_server(
            PyTorchBackend(), server_spec().model_copy(update={"backend": "pytorch"}), None
        )


def test_camp_run_local_runs_a_server_mode_campaign(tmp_path: Path) -> None:
    campaign = tmp_path / "serving.yaml"
    campaign.write_text(
        """name: serving-local
models: [stub-model]
backends:
  stub:
    params: {batch_size: 4, work_ms_per_token: 3}
grid:
  workload.request_rate: [10, 40]
workload:
  {mode: server, duration_s: 0.6, warmup_s: 0.2, n_requests: 8, max_input_tokens: 8, max_output_tokens: 4}
cycles: 1
timeout_s: 120
measurement:
  sample_hz: 100
  baseline: {duration_s: 0.2}
  settle: {probe_s: 0.1}
"""
    )
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "run",
            str(campaign),
            "--executor",
            "local",
            "--results-dir",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rates = sorted(
        RunResult.model_validate_json(p.read_text()).serving.target_rate_rps  # type: ignore[union-attr]
        for p in (results / "serving-local").glob("*/c0/result.json")
    )
    assert rates == [10.0, 40.0]
