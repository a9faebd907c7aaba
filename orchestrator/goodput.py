"""Goodput of one server-mode run under a campaign's SLO, from its ``requests.parquet``.

Two sets of requests, as the harness counts them (``camp_contract.models.ServingMetrics``):

- the window's requests: those *scheduled* in the measured window (phase ``measured``). SLO
  attainment is the share of them that are good; one that failed, or had not finished when
  the run ended, is not good. So an overloaded server cannot raise its attainment by dropping
  or stalling requests.
- the requests *completed* in the window (last token within it, whenever scheduled). Goodput
  is the good ones among them per second of window, the rate at which the server delivered
  answers within the SLO, as ``vllm bench serve --goodput`` counts it.

What makes a request good is ``good_requests``: completed, and within every threshold of the SLO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from camp_contract import requests_table as rq
from camp_contract.timeseries import PHASE_MEASURED
from orchestrator import slo as slo_rules

NO_GOODPUT = {"goodput_rps": math.nan, "slo_attainment_pct": math.nan, "slo_good_requests": math.nan}


def ttft_s(requests: pd.DataFrame) -> pd.Series:
    """Each request's time to first token, from its send (as ``vllm bench serve`` times it)."""
    return requests[rq.FIRST_TOKEN_S] - requests[rq.SENT_S]


def tpot_s(requests: pd.DataFrame) -> pd.Series:
    """Each request's time per output token after the first; NaN for a one-token answer, which
    has no second token to time."""
    decoded = requests[rq.OUTPUT_TOKENS].astype(float) - 1
    gap = requests[rq.LAST_TOKEN_S] - requests[rq.FIRST_TOKEN_S]
    return gap / decoded.where(decoded > 0)


def good_requests(requests: pd.DataFrame, slo: slo_rules.ServiceLevel) -> pd.Series:
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


@dataclass(frozen=True)
class Goodput:
    goodput_rps: float  # good requests completed in the window / window length
    attainment: float  # good / the window's requests (0–1); NaN with no window request
    good_requests: int  # good requests among the window's
    window_requests: int

    def columns(self) -> dict[str, float]:
        """The runs table's columns (attainment in percent, as its name says)."""
        return {
            "goodput_rps": self.goodput_rps,
            "slo_attainment_pct": 100 * self.attainment,
            "slo_good_requests": float(self.good_requests),
        }


class RequestsUnreadable(Exception):
    """A run's requests.parquet is missing or not the contract's table; the message names it."""


def read_requests(path: Path) -> pd.DataFrame:
    """A run's requests.parquet by the contract's column names."""
    try:
        return pq.read_table(path, columns=list(rq.COLUMNS)).to_pandas()
    except FileNotFoundError:
        raise RequestsUnreadable(f"{path}: missing, so the run has no goodput") from None
    except (OSError, pa.ArrowException, KeyError) as err:
        raise RequestsUnreadable(f"{path}: cannot be read ({err}), so the run has no goodput") from None


def run_goodput(
    requests: pd.DataFrame, window: tuple[float, float], window_s: float, slo: slo_rules.ServiceLevel
) -> Goodput:
    """Goodput and attainment of one run: ``window`` is its measured window on the requests'
    clock (``RunResult.window``), ``window_s`` its length (``ServingMetrics.window_s``)."""
    good = good_requests(requests, slo)
    in_window = requests[rq.PHASE] == PHASE_MEASURED
    start, end = window
    last = requests[rq.LAST_TOKEN_S]
    completed_in_window = last.notna() & (last >= start) & (last <= end)
    window_requests = int(in_window.sum())
    window_good = int((good & in_window).sum())
    delivered = int((good & completed_in_window).sum())
    return Goodput(
        goodput_rps=delivered / window_s if window_s > 0 else math.nan,
        attainment=window_good / window_requests if window_requests else math.nan,
        good_requests=window_good,
        window_requests=window_requests,
    )
