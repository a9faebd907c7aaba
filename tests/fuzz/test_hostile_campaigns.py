"""Every hostile campaign file the corpus generator makes ends the same way, through the real
command line in a child process (the honest test of a hang): exit 2, one message naming the
file, no traceback, nothing written, within ``LIMIT_S``. ``CAMP_FUZZ_SEED`` draws another corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fuzz.corpus import TEXT_FAMILIES, Case, corpus

SEED = int(os.environ.get("CAMP_FUZZ_SEED", "16"))
PER_FAMILY = 6  # 13 families × 6 + 4 special files = 82 files, each through plan and run
LIMIT_S = 5.0
ROOT = Path(__file__).resolve().parents[2]


def _camp(args: list[str], cwd: Path) -> tuple[int | None, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "containers")])}
    env.pop("CAMP_PLUGINS", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None, f"still running after {LIMIT_S} s"
    return done.returncode, done.stdout + done.stderr


def _failures(case: Case, workdir: Path) -> list[str]:
    case_dir = workdir / case.name
    case_dir.mkdir()
    path = case.materialize(case_dir)
    results = case_dir / "results"
    found = []
    for command in (
        ["plan", str(path)],
        ["run", str(path), "--results-dir", str(results), "--executor", "local"],
    ):
        before = sorted(p.name for p in case_dir.iterdir())
        code, output = _camp(command, case_dir)
        what = f"{case.name} ({command[0]})"
        if code != 2:
            found.append(f"{what}: exit {code}, not 2: {output[-300:]}")
        if "Traceback" in output:
            found.append(f"{what}: printed a traceback: {output[-300:]}")
        if str(path) not in output:
            found.append(f"{what}: the message does not name the file: {output[-300:]}")
        if sorted(p.name for p in case_dir.iterdir()) != before or results.exists():
            found.append(f"{what}: wrote something")
    return found


def test_the_corpus_covers_every_class() -> None:
    families = {case.family for case in corpus(SEED, 1)}
    assert families == {*TEXT_FAMILIES, "garbage_bytes", "fifo", "dev_zero", "sparse", "directory"}


def test_every_hostile_file_is_refused_with_exit_2_naming_it_and_writing_nothing(tmp_path: Path) -> None:
    cases = list(corpus(SEED, PER_FAMILY))
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = [f for failures in pool.map(lambda c: _failures(c, tmp_path), cases) for f in failures]
    assert not found, f"{len(found)} failures (seed {SEED}):\n" + "\n".join(found[:20])
