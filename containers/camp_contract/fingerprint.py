"""The contract's fingerprint: a short hash of everything the two sides must agree on.

``camp-harness contract`` prints it inside an image; before a campaign runs, the host compares it
with its own, so an image built from other camp code is caught at once, not as a failed result
hours later.
"""

from __future__ import annotations

import hashlib
import json

from camp_contract import layout
from camp_contract.failure import RunFailure
from camp_contract.models import RunResult, RunSpec
from camp_contract.progress import PHASES, RunProgress
from camp_contract.secrets_mount import SECRETS_MOUNT
from camp_contract.spec_types import spec_type
from camp_contract.timeseries import arrow_schema

# The layout's names both sides read or write (the rest of the layout is the host's alone).
SHARED_NAMES = [
    layout.SPEC_FILENAME,
    layout.RESULT_FILENAME,
    layout.TIMESERIES_FILENAME,
    layout.ERROR_FILENAME,
    layout.PROGRESS_FILENAME,
    layout.BASELINE_CACHE_DIRNAME,
    layout.CYCLE_PREFIX,
    SECRETS_MOUNT,  # an image that does not read it would run gated models without a token
]


def contract_fingerprint(backend: str | None = None) -> str:
    """The hash of the spec schema (every registered backend's, their parameters included; or
    only ``backend``'s, which is all an image of that backend must agree on, whatever plugins the
    host has), the result, failure and progress schemas (the phases too), the timeseries columns
    and the layout's shared names."""
    spec = RunSpec.model_json_schema() if backend is None else spec_type(backend).model_json_schema()
    schemas: list[object] = [spec, RunResult.model_json_schema()]
    schemas.append(RunFailure.model_json_schema())
    schemas.append([RunProgress.model_json_schema(), list(PHASES)])
    schemas.append([f"{field.name}:{field.type}" for field in arrow_schema()])
    schemas.append(SHARED_NAMES)
    return hashlib.sha256(json.dumps(schemas, sort_keys=True).encode()).hexdigest()[:16]
