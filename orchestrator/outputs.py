"""After every ``camp run`` — finished, interrupted or failed — the campaign's outputs are
refreshed together from one read of its done runs: every aggregate table, the HTML report, and
the ``by_*`` tables an earlier ``camp report --by`` left (recomputed for the runs as they are now,
or removed where their field no longer exists). Nothing in ``aggregate/`` or ``report/`` is then
older than the manifest, so no file there describes fewer runs than the manifest holds.

Like ``camp run``'s own tables, they cover every done run (no ``--exclude-warned``);
``camp report`` writes them again with its options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from camp_contract import layout
from orchestrator import aggregate, grouping, slo

BY_PREFIX = "by_"
BY_SEPARATOR = "+"  # as `camp report --by a --by b` names its table: by_a+b


@dataclass(frozen=True)
class Refreshed:
    tables: aggregate.CampaignTables
    index: Path  # report/index.html


def by_table_name(fields: list[str]) -> str:
    return BY_PREFIX + BY_SEPARATOR.join(fields)


def refresh_outputs(campaign_dir: Path) -> Refreshed:
    """Rewrite the aggregates, the ``by_*`` tables and the report. Raises ``OSError`` (a full
    disk, a read-only volume) and ``aggregate.AggregationError`` as ``camp report`` does."""
    from orchestrator.report import write_report

    # goodput under the SLO of the campaign as last run (campaign.json), as the summary counts it
    tables = aggregate.aggregate_campaign(campaign_dir, service_level=slo.snapshot_slo(campaign_dir))
    _refresh_by_tables(campaign_dir, tables)
    return Refreshed(tables, write_report(campaign_dir, tables))


def _refresh_by_tables(campaign_dir: Path, tables: aggregate.CampaignTables) -> None:
    out = layout.aggregate_dir(campaign_dir)
    stems = {path.stem for path in out.glob(f"{BY_PREFIX}*.parquet")}
    stems |= {path.stem for path in out.glob(f"{BY_PREFIX}*.csv")}
    for stem in sorted(stems):
        fields = stem[len(BY_PREFIX) :].split(BY_SEPARATOR)
        try:
            grouped = grouping.grouped_summary(tables.kept_runs, fields)
        except (grouping.UnknownField, KeyError, ValueError):
            grouped = None
        if grouped is None or by_table_name(grouped.by) != stem:
            for suffix in (".parquet", ".csv"):
                (out / f"{stem}{suffix}").unlink(missing_ok=True)
            continue
        aggregate.write_table(grouped.table, out, stem)
