"""What a campaign would run, computed once for ``camp plan`` (text or ``--json``) and for the
Python API's ``camp.plan``: its experiments, the grid points rejected with the reason, and the
run order with its carry-over balance. Nothing is run or written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.campaign import Campaign
from orchestrator.carryover import CarryoverBalance, carryover_balance
from orchestrator.grid import Experiment, RejectedPoint, expand
from orchestrator.schedule import schedule

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CampaignPlan:
    campaign: Campaign
    experiments: tuple[Experiment, ...]
    rejected: tuple[RejectedPoint, ...]
    order: tuple[tuple[str, int], ...]  # (exp_id, cycle) in the order the runs start

    @property
    def n_runs(self) -> int:
        return len(self.order)

    def balance(self) -> CarryoverBalance | None:
        """How evenly each experiment's predecessors are spread (None with nothing to run)."""
        return carryover_balance(list(self.order)) if self.order else None

    def experiments_frame(self) -> pd.DataFrame:
        """One row per experiment: exp_id, label, then its resolved configuration flattened
        (``params.batch_size``, ``workload.max_output_tokens``, …) as the results tables name it."""
        import pandas as pd

        from orchestrator.aggregate import flatten

        rows = [{"exp_id": e.exp_id, "label": e.label(), **flatten(e.config())} for e in self.experiments]
        return pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"exp_id": [], "label": []})

    def as_json(self) -> dict[str, Any]:
        """``camp plan --json`` (its shape is documented in docs/api.md)."""
        balance = self.balance()
        return {
            "campaign": self.campaign.name,
            "cycles": self.campaign.cycles,
            "order_mode": self.campaign.order.mode,
            "order_seed": self.campaign.order.seed,
            "counts": {
                "experiments": len(self.experiments),
                "runs": self.n_runs,
                "rejected": len(self.rejected),
            },
            "experiments": [
                {"exp_id": e.exp_id, "label": e.label(), "backend": e.backend, "config": e.config()}
                for e in self.experiments
            ],
            "rejected": [
                {"backend": r.backend, "model": r.model, "point": r.point, "reason": r.reason}
                for r in self.rejected
            ],
            "runs": [
                {"position": i, "exp_id": exp_id, "cycle": cycle}
                for i, (exp_id, cycle) in enumerate(self.order, start=1)
            ],
            "carryover": None
            if balance is None
            else {"spread": balance.spread, "fixed": [str(e) for e in balance.fixed]},
        }


def make_plan(campaign: Campaign) -> CampaignPlan:
    """Expand and order ``campaign`` exactly as ``camp run`` would."""
    expansion = expand(campaign)
    exp_ids = [e.exp_id for e in expansion.experiments]
    order = schedule(exp_ids, campaign.cycles, campaign.order.mode, campaign.order.seed) if exp_ids else []
    return CampaignPlan(campaign, tuple(expansion.experiments), tuple(expansion.rejected), tuple(order))
