"""Engine servers: ``vllm serve`` and ``trtllm-serve`` command lines from the typed params, and
their start-up, health wait and stop, against a fake engine on PATH."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from camp_contract.models import RunSpec, Workload
from harness.backends.tensorrt_backend import TensorRTBackend, llm_api_options
from harness.backends.tensorrt_backend import serve_command as trtllm_serve
from harness.backends.vllm_backend import VllmBackend, cli_flag
from harness.backends.vllm_backend import serve_command as vllm_serve
from harness.serving.handle import ServerFailed
from harness.serving.loopback import free_port
from harness.serving.managed_server import ManagedServer
from tests.factories import run_spec

FAKE_ENGINE = Path(__file__).with_name("fake_engine_server.py")
SERVER = Workload(mode="server", request_rate=4.0)


def spec(backend: str, **params: object) -> RunSpec:
    return run_spec(backend=backend, model="/models/m", params=params, workload=SERVER)


def test_vllm_serve_takes_every_engine_argument_as_its_flag() -> None:
    params = spec(
        "vllm", max_num_seqs=64, enable_chunked_prefill=False, enforce_eager=True, extra={"swap_space": 4}
    )
    command = vllm_serve(params, params.params, 8123)  # type: ignore[arg-type]
    assert command[:3] == ["vllm", "serve", "/models/m"]
    pairs = " ".join(command)
    assert "--host 127.0.0.1 --port 8123" in pairs
    assert "--served-model-name /models/m" in pairs
    assert "--max-num-seqs 64" in pairs and "--swap-space 4" in pairs and "--seed 0" in pairs
    assert "--no-enable-prefix-caching" in command  # camp's default, always sent
    assert "--no-enable-chunked-prefill" in command and "--enforce-eager" in command
    assert "--gpu-memory-utilization 0.9" in pairs and "--dtype auto" in pairs
    assert "--disable-log-stats" not in pairs and not any(a.startswith("--max-model-len") for a in command)


def test_vllm_flags_spell_booleans_and_mappings_as_its_cli_does() -> None:
    assert cli_flag("enable_prefix_caching", True) == ["--enable-prefix-caching"]
    assert cli_flag("enable_prefix_caching", False) == ["--no-enable-prefix-caching"]
    assert cli_flag("limit_mm_per_prompt", {"image": 2}) == ["--limit-mm-per-prompt", '{"image": 2}']


def test_trtllm_serve_takes_the_batch_limits_as_flags_and_the_rest_in_its_options_file(
    tmp_path: Path,
) -> None:
    params = spec(
        "tensorrt",
        engine="tensorrt",
        max_batch_size=32,
        max_num_tokens=4096,
        tensor_parallel_size=2,
        quantization="FP8",
        dtype="bfloat16",
        kv_cache_free_gpu_memory_fraction=0.8,
        extra={"kv_cache_config": {"tokens_per_block": 64}},
    )
    command = trtllm_serve(params, params.params, 9000, tmp_path / "o.yaml")  # type: ignore[arg-type]
    assert " ".join(command) == (
        f"trtllm-serve /models/m --host 127.0.0.1 --port 9000 --backend tensorrt --tp_size 2 "
        f"--max_batch_size 32 --max_num_tokens 4096 --extra_llm_api_options {tmp_path / 'o.yaml'}"
    )
    assert llm_api_options(params.params) == {  # type: ignore[arg-type]
        "dtype": "bfloat16",
        "kv_cache_config": {
            "tokens_per_block": 64,
            "enable_block_reuse": False,
            "free_gpu_memory_fraction": 0.8,
        },
        "quant_config": {"quant_algo": "FP8"},
    }


@pytest.fixture
def fake_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``vllm`` and ``trtllm-serve`` on PATH, both the fake engine; returns its log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("vllm", "trtllm-serve"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_ENGINE}" "$@"\n')
        script.chmod(0o755)
    log = tmp_path / "engine.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    return log


def logged(log: Path) -> dict[str, object]:
    entries: dict[str, object] = {}
    for line in log.read_text().splitlines():
        entries.update(json.loads(line))
    return entries


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"  # a zombie has exited


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.parametrize("backend", ["vllm", "tensorrt"])
def test_an_engine_server_starts_is_healthy_and_stops_with_its_workers(
    backend: str, fake_engines: Path
) -> None:
    engine = VllmBackend() if backend == "vllm" else TensorRTBackend()
    server = engine.start_server(spec(backend), busy=lambda: None)  # type: ignore[arg-type]
    try:
        server.wait_healthy(20)
        argv = logged(fake_engines)["argv"]
        assert isinstance(argv, list) and "--port" in argv
        assert server.base_url == f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
    finally:
        server.stop()
    worker = logged(fake_engines)["worker"]
    assert isinstance(worker, int) and wait_gone(worker)
    assert server.process.poll() is not None
    server.stop()  # twice is harmless


def test_an_engine_that_exits_at_once_fails_the_health_wait_with_its_code(
    fake_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MODE", "exit")
    port = free_port()
    server = ManagedServer(["vllm", "serve", "m", "--port", str(port)], port, model="m")
    with pytest.raises(ServerFailed, match="vllm exited with code 3 before it was healthy"):
        server.wait_healthy(20)
    server.stop()


def test_an_engine_that_ignores_sigterm_is_killed_after_the_stop_timeout(
    fake_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MODE", "stubborn")
    port = free_port()
    server = ManagedServer(["vllm", "serve", "m", "--port", str(port)], port, model="m", stop_timeout_s=0.5)
    server.wait_healthy(20)
    server.stop()
    assert server.process.returncode == -9
    worker = logged(fake_engines)["worker"]
    assert isinstance(worker, int) and wait_gone(worker)
