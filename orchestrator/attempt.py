"""One attempt of one run, as files: before it, whatever an earlier attempt left is removed and
the spec is written (atomically); after it, what the run printed is saved as ``container.log``
(secrets redacted, whichever runtime ran it) and its verdict is read from its files.

A run is done only with exit code 0 and a ``result.json`` that validates against the contract
and names this (exp_id, cycle); anything else fails with the reason: the harness's own
(``error.json``) where it wrote one, else the last line the run printed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from camp_contract.atomic import atomic_write_text
from camp_contract.failure import read_failure
from camp_contract.layout import RunFiles
from camp_contract.models import RunResult, RunSpec
from camp_contract.validation import first_error
from orchestrator.executors import ExecOutcome
from orchestrator.secrets import redact

MAX_REASON_CHARS = 1000  # of the harness's reason, as the manifest keeps it
MAX_LAST_LINE_CHARS = 300  # of the last line printed, where the harness gave no reason
KILLED_EXIT_CODE = 137


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    reason: str | None = None
    result: RunResult | None = None
    exit_code: int | None = None
    log_tail: str | None = None  # the end of what it printed, for the manifest (failures only)


def begin_attempt(files: RunFiles[Path], spec: RunSpec) -> None:
    """Clear an earlier attempt's outputs — a result or failure of another attempt must never be
    taken for this one's — then write this attempt's spec."""
    files.dir.mkdir(parents=True, exist_ok=True)
    for stale in files.harness_outputs:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    atomic_write_text(files.spec, spec.model_dump_json(indent=2))


def judge_attempt(
    files: RunFiles[Path], exp_id: str, cycle: int, executed: ExecOutcome, timeout_s: float
) -> AttemptResult:
    """Save the attempt's output and say whether it is done; when not, why."""
    executed = replace(executed, output=redact(executed.output))
    atomic_write_text(files.container_log, executed.output)
    if executed.error:
        reason = executed.error
    elif executed.timed_out:
        reason = f"timed out after {timeout_s:g}s (timeout_s); the container was killed"
    else:
        checked = check_result(files.result, exp_id, cycle)
        if checked.ok and executed.exit_code == 0:
            return replace(checked, exit_code=0)
        if executed.exit_code == 0:
            reason = checked.reason or ""
        else:
            reason = f"exited with code {executed.exit_code}"
            if executed.exit_code == KILLED_EXIT_CODE:
                reason += " (killed: out of memory or SIGKILL)"
            why = failure_reason(files.error, exp_id, cycle) or executed.last_line()[:MAX_LAST_LINE_CHARS]
            if why:
                reason += f" — {why}"
    return AttemptResult(False, reason, exit_code=executed.exit_code, log_tail=executed.tail())


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
