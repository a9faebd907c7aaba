"""The schema of ``requests.parquet``, a server-mode run's per-request rows (one per request
the load generator scheduled, warmup and drain included), written by the harness and read by
the host for goodput under a campaign's SLO and the report's latency plots.

Times are seconds on the same clock and origin as the timeseries' ``t_s`` and the result's
``window``, so a request can be placed on the power trace. ``phase`` is the part of the run its
*scheduled* time fell in: ``warmup``, ``measured`` or ``drain`` (``camp_contract.timeseries``).
A request that failed has ``error`` set and null token times; ``itl_s`` lists the gaps between
its consecutive tokens (empty for one token).
"""

from __future__ import annotations

import pyarrow as pa

REQUEST_ID = "request_id"
PHASE = "phase"
SCHEDULED_S = "scheduled_s"
SENT_S = "sent_s"
FIRST_TOKEN_S = "first_token_s"
LAST_TOKEN_S = "last_token_s"
INPUT_TOKENS = "input_tokens"
OUTPUT_TOKENS = "output_tokens"
ITL_S = "itl_s"
ERROR = "error"

SCHEMA = pa.schema(
    [
        (REQUEST_ID, pa.int64()),
        (PHASE, pa.string()),
        (SCHEDULED_S, pa.float64()),
        (SENT_S, pa.float64()),
        (FIRST_TOKEN_S, pa.float64()),
        (LAST_TOKEN_S, pa.float64()),
        (INPUT_TOKENS, pa.int64()),
        (OUTPUT_TOKENS, pa.int64()),
        (ITL_S, pa.list_(pa.float64())),
        (ERROR, pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
