"""A campaign's service-level objective (``slo:``) and what it makes of a request: good or not.

The SLO lives on the host only: it is not in the spec, so no exp_id depends on it, and changing
it re-aggregates the runs on disk without running them again (docs/measurement.md, "Goodput and
the SLO"). Its thresholds are named for the 90th percentile they bound: a load meets the SLO
when at least ``ATTAINMENT_TARGET`` (90 %) of its window's requests are good, which is the
same as the p90 of their TTFT and of their TPOT being within the thresholds when every request
completes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from camp_contract import layout
from camp_contract import requests_table as rq
from camp_contract.models import DAY_S

ATTAINMENT_TARGET = 0.9  # the share of good requests at which a load meets the SLO


class ServiceLevel(BaseModel):
    """``slo: {ttft_p90_s: 0.5, tpot_p90_s: 0.05}``: the latencies a request must stay within to
    count towards goodput. Either threshold may be left out; at least one is given."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # time to first token: from the request's send to its first token, seconds
    ttft_p90_s: float | None = Field(default=None, gt=0, le=DAY_S)
    # time per output token after the first: (last − first token) / (output tokens − 1), seconds
    tpot_p90_s: float | None = Field(default=None, gt=0, le=DAY_S)

    @model_validator(mode="after")
    def _names_a_threshold(self) -> ServiceLevel:
        if self.ttft_p90_s is None and self.tpot_p90_s is None:
            raise ValueError("an slo names ttft_p90_s, tpot_p90_s or both (seconds)")
        return self

    def describe(self) -> str:
        """``TTFT ≤ 0.5 s and TPOT ≤ 0.05 s for 90% of requests``."""
        parts = [
            f"{name} ≤ {value:g} s"
            for name, value in (("TTFT", self.ttft_p90_s), ("TPOT", self.tpot_p90_s))
            if value is not None
        ]
        return f"{' and '.join(parts)} for {ATTAINMENT_TARGET:.0%} of requests"


def ttft_s(requests: pd.DataFrame) -> pd.Series:
    """Each request's time to first token, from its send (as ``vllm bench serve`` times it)."""
    return requests[rq.FIRST_TOKEN_S] - requests[rq.SENT_S]


def tpot_s(requests: pd.DataFrame) -> pd.Series:
    """Each request's time per output token after the first; NaN for a one-token answer, which
    has no second token to time."""
    decoded = requests[rq.OUTPUT_TOKENS].astype(float) - 1
    gap = requests[rq.LAST_TOKEN_S] - requests[rq.FIRST_TOKEN_S]
    return gap / decoded.where(decoded > 0)


def good_requests(requests: pd.DataFrame, slo: ServiceLevel) -> pd.Series:
    """Whether each request is good: it completed without error (it has a last token) and its
    TTFT and TPOT are within the SLO's thresholds (a TPOT it cannot have, one token, passes)."""
    completed = requests[rq.ERROR].isna() & requests[rq.LAST_TOKEN_S].notna()
    good = completed.to_numpy(dtype=bool, copy=True)
    if slo.ttft_p90_s is not None:
        good &= (ttft_s(requests) <= slo.ttft_p90_s).to_numpy(dtype=bool)
    if slo.tpot_p90_s is not None:
        tpot = tpot_s(requests).to_numpy(dtype=float)
        good &= np.isnan(tpot) | (tpot <= slo.tpot_p90_s)
    return pd.Series(good, index=requests.index)


def meets(attainment: float) -> bool | None:
    """Whether an attainment (a share, 0–1) meets the SLO; None where there is none."""
    return None if not math.isfinite(attainment) else attainment >= ATTAINMENT_TARGET


def snapshot_slo(campaign_dir: Path) -> ServiceLevel | None:
    """The SLO of the campaign as last run (``campaign.json``, written by ``camp run``), for a
    report of a results directory; None where it has none or the snapshot cannot be read (the
    report then shows no goodput rather than failing)."""
    try:
        snapshot = json.loads(layout.campaign_snapshot_path(campaign_dir).read_text(encoding="utf-8"))
        given = snapshot.get("slo") if isinstance(snapshot, dict) else None
        return None if given is None else ServiceLevel.model_validate(given)
    except (OSError, ValueError, ValidationError):
        return None
