"""A campaign's results as pandas DataFrames: the same tables ``camp report`` writes under
``aggregate/`` (read, never written, from here), and any run's power trace."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from orchestrator.aggregate import CampaignTables


class Results:
    """The done runs of one campaign directory. Tables are computed on first use and kept; a
    new ``Results`` sees runs finished since."""

    def __init__(self, campaign_dir: Path):
        self.campaign_dir = Path(campaign_dir)
        self._tables: dict[tuple[str, ...], CampaignTables] = {}

    def __repr__(self) -> str:
        return f"Results({str(self.campaign_dir)!r})"

    def tables(self, exclude_warned: Sequence[str] = ()) -> CampaignTables:
        """Every table at once (``orchestrator.aggregate.CampaignTables``); ``exclude_warned``:
        warning kinds (or ``"all"``) whose runs are left out of the intervals."""
        from orchestrator.aggregate import aggregate_campaign

        key = tuple(exclude_warned)
        if key not in self._tables:
            self._tables[key] = aggregate_campaign(self.campaign_dir, write=False, exclude_warned=key)
        return self._tables[key]

    def runs(self) -> pd.DataFrame:
        """One row per done run, keyed by ``exp_id`` and ``cycle``: the configuration flattened
        (``backend``, ``params.batch_size``, ``workload.max_output_tokens``, …), then its metrics,
        each column named with its unit (``energy_per_output_token_j``, ``avg_power_w``, …)."""
        return self.tables().runs

    def experiments(self, exclude_warned: Sequence[str] = ()) -> pd.DataFrame:
        """One row per experiment: its configuration, warned-run counts, and per metric the mean
        over cycles with its 95% interval (``<metric>_mean``, ``_low``, ``_high``, ``_n``,
        ``_method``)."""
        return self.tables(tuple(exclude_warned)).experiments

    def requests(self) -> pd.DataFrame:
        """One row per measured request: ``exp_id``, ``cycle``, ``request``, ``input_tokens``,
        ``output_tokens``, ``latency_s``."""
        return self.tables().requests

    def warnings(self) -> pd.DataFrame:
        """One row per run warning: ``exp_id``, ``cycle``, ``kind``, ``message``."""
        return self.tables().warnings

    def experiment_id(self, name: str) -> str:
        """The exp_id ``name`` stands for: an exp_id, a unique prefix of one, or a label
        (``batch_size=8``), as ``camp compare`` takes them; ``ValueError`` lists the candidates."""
        from orchestrator.comparison import experiment_labels, resolve_experiment

        return resolve_experiment(name, experiment_labels(self.runs(), {}))

    def timeseries(self, exp_id: str | None = None, cycle: int | None = None) -> pd.DataFrame:
        """The sampled traces (``timeseries.parquet``: time, power, temperature, clocks, phase,
        per device and source) of the done runs, with ``exp_id`` and ``cycle`` columns first;
        narrowed to one experiment (an exp_id, a unique prefix or a label) and/or one cycle.
        Runs without a trace are skipped."""
        import pandas as pd

        from camp_contract import layout

        runs = self.runs()[["exp_id", "cycle"]]
        if exp_id is not None:
            runs = runs[runs["exp_id"] == self.experiment_id(exp_id)]
        if cycle is not None:
            runs = runs[runs["cycle"] == cycle]
        frames = []
        for run_exp_id, run_cycle in runs.itertuples(index=False):
            path = layout.RunFiles(layout.run_dir(self.campaign_dir, run_exp_id, run_cycle)).timeseries
            if path.is_file():
                trace = pd.read_parquet(path)
                trace.insert(0, "cycle", run_cycle)
                trace.insert(0, "exp_id", run_exp_id)
                frames.append(trace)
        if not frames:
            return pd.DataFrame({"exp_id": pd.Series(dtype="string"), "cycle": pd.Series(dtype="int64")})
        return pd.concat(frames, ignore_index=True)
