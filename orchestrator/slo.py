"""A campaign's service-level objective (``slo:``): its thresholds, and the share of good requests
that meets it (what makes a request good is ``goodput.good_requests``).

The SLO lives on the host only: it is not in the spec, so no exp_id depends on it, and changing
it re-aggregates the runs on disk without running them again (docs/measurement.md, "Goodput and
the SLO"). Its thresholds are named for the 90th percentile they bound: a load meets the SLO
when at least ``ATTAINMENT_TARGET`` (90 %) of its window's requests are good: when every request
completes, that puts the p90 of their TTFT and of their TPOT within the thresholds (jointly, so a
little stricter than each p90 alone).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from camp_contract import layout
from camp_contract.models import DAY_S

ATTAINMENT_TARGET = 0.9  # the share of good requests at which a load meets the SLO


class ServiceLevel(BaseModel):
    """``slo: {ttft_p90_s: 0.5, tpot_p90_s: 0.05}``: the latencies a request must stay within to
    count towards goodput. Either threshold may be left out; at least one is given."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ttft_p90_s: float | None = Field(
        default=None,
        gt=0,
        le=DAY_S,
        description="Time to first token a good request stays within: from its send to its first "
        "token, seconds (90 % of requests must, for the SLO to be met).",
    )
    tpot_p90_s: float | None = Field(
        default=None,
        gt=0,
        le=DAY_S,
        description="Time per output token after the first a good request stays within: (last − "
        "first token) / (output tokens − 1), seconds.",
    )

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
