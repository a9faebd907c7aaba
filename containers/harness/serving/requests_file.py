"""``requests.parquet``: one row per request the load generator scheduled, in the contract's
schema (``camp_contract.requests_table``), times from the timeseries' origin; written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from camp_contract import requests_table as rt
from camp_contract.atomic import atomic_write_with
from harness.serving.openai_stream import RequestTiming
from harness.serving.window import phase_of


def _since(t: float | None, origin: float) -> float | None:
    return None if t is None else t - origin


def write_requests(
    path: Path, requests: Sequence[RequestTiming], schedule_window: tuple[float, float], origin: float
) -> None:
    """``schedule_window``: the window as scheduled, which a request's phase is read against."""
    answered = [r if r.error is None else None for r in requests]
    columns = {
        rt.REQUEST_ID: [r.request_id for r in requests],
        rt.PHASE: [phase_of(r.scheduled_s, schedule_window) for r in requests],
        rt.SCHEDULED_S: [r.scheduled_s - origin for r in requests],
        rt.SENT_S: [_since(r.sent_s, origin) for r in requests],
        rt.FIRST_TOKEN_S: [_since(r.first_token_s, origin) if r else None for r in answered],
        rt.LAST_TOKEN_S: [_since(r.last_token_s, origin) if r else None for r in answered],
        rt.INPUT_TOKENS: [r.input_tokens for r in requests],
        rt.OUTPUT_TOKENS: [r.output_tokens for r in requests],
        rt.ITL_S: [list(r.itl_s) for r in requests],
        rt.ERROR: [r.error for r in requests],
    }
    table = pa.table(columns, schema=rt.SCHEMA)
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))
