"""scripts/provision-docker.sh on a machine whose engine is not running yet (a fresh CI machine),
with fake `docker` and `dockerd` on PATH: the daemon it starts must not keep the provisioning lock,
or every later provisioning of the checkout (the next `make test`, the infra tests) waits forever."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Answers `docker info` only once the fake daemon has started; everything else succeeds quietly.
FAKE_DOCKER = """#!/bin/sh
case "$1" in
  info) [ -f "$FAKE_ENGINE/started" ] ;;
  image) echo sha256:fake ;;
  *) exit 0 ;;
esac
"""
# Lives on like the real daemon; writes its pid so the test can stop it.
FAKE_DOCKERD = """#!/bin/sh
echo $$ >"$FAKE_ENGINE/started"
exec sleep 120
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/etc/debian_version").exists(),
    reason="the script starts an engine itself only as root on Debian (as in CI)",
)


def _checkout_copy(tmp_path: Path) -> Path:
    """The script and what it hashes, so its stamp and lock land in tmp_path, not in this checkout."""
    copy = tmp_path / "checkout"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "provision-docker.sh", copy / "scripts")
    for name in (".dockerignore", "compose.yaml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, copy / name)
    (copy / "containers" / "stub").mkdir(parents=True)
    (copy / "containers" / "pytorch" / "wheels").mkdir(parents=True)
    shutil.copy(REPO / "containers" / "stub" / "Dockerfile", copy / "containers" / "stub")
    for package in ("containers/harness", "containers/camp_contract", "orchestrator"):
        (copy / package).mkdir()
        (copy / package / "__init__.py").touch()
    return copy


def _fake_engine(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "engine"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("dockerd", FAKE_DOCKERD)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    # CI's CAMP_REQUIRE_PYTORCH_IMAGE would send the copy on to fetch torch with a venv it has not
    return {
        **{k: v for k, v in os.environ.items() if k != "CAMP_REQUIRE_PYTORCH_IMAGE"},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_ENGINE": str(state),
        "HF_HOME": str(tmp_path / "hf"),
        "CAMP_STUB_BASE_IMAGE": "camp-base:fake",
        "CAMP_REQUIRE_DOCKER": "1",
    }


def test_the_engine_it_starts_does_not_hold_the_provisioning_lock(tmp_path: Path) -> None:
    if Path("/proc/1/comm").read_text().strip() == "systemd":
        pytest.skip("with systemd the script uses `systemctl start docker`, which has no fake here")
    copy, env = _checkout_copy(tmp_path), _fake_engine(tmp_path)
    script = ["bash", str(copy / "scripts" / "provision-docker.sh")]
    try:
        first = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        assert "starting dockerd" in first.stderr
        lock = copy / ".camp-build" / "provision.lock"
        free = subprocess.run(["flock", "--nonblock", str(lock), "true"], check=False)
        assert free.returncode == 0, "the started engine kept the provisioning lock"
        again = subprocess.run(script, env=env, capture_output=True, text=True, timeout=30)
        assert again.returncode == 0, again.stderr
        assert again.stderr == ""
    finally:
        pid_file = tmp_path / "engine" / "started"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_the_engine_it_starts_holds_no_lock_of_its_caller_either(tmp_path: Path) -> None:
    """`flock /tmp/x make provision` (how engineers share one engine) must not leave the engine
    holding /tmp/x: flock passes its lock to the script, and a daemon inheriting it kept it."""
    if Path("/proc/1/comm").read_text().strip() == "systemd":
        pytest.skip("with systemd the script uses `systemctl start docker`, which has no fake here")
    copy, env = _checkout_copy(tmp_path), _fake_engine(tmp_path)
    outer = tmp_path / "caller.lock"
    try:
        first = subprocess.run(
            ["flock", str(outer), "bash", str(copy / "scripts" / "provision-docker.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert first.returncode == 0, first.stderr
        assert "starting dockerd" in first.stderr
        free = subprocess.run(["flock", "--nonblock", str(outer), "true"], check=False)
        assert free.returncode == 0, "the started engine kept its caller's lock"
    finally:
        pid_file = tmp_path / "engine" / "started"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
