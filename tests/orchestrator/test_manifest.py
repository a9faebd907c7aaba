from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from camp_contract.layout import run_dir
from orchestrator.campaign import parse_campaign
from orchestrator.grid import Experiment, expand
from orchestrator.lock import CampaignLocked, campaign_lock
from orchestrator.manifest import Manifest, done_run_dirs
from orchestrator.schedule import schedule


def experiments(batch_sizes: str = "[1, 2]") -> list[Experiment]:
    text = f"name: t\nmodels: [m]\nbackends:\n  stub: {{grid: {{batch_size: {batch_sizes}}}}}\n"
    return expand(parse_campaign(text, Path("c.yaml"))).experiments


def sync(manifest: Manifest, exps: list[Experiment], cycles: int = 2, sha: str = "a"):
    return manifest.sync("t", sha, exps, schedule([e.exp_id for e in exps], cycles, "interleaved"))


def test_sync_creates_pending_runs_in_schedule_order(tmp_path: Path) -> None:
    exps = experiments()
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps)
        runs = manifest.runs()
        assert [(r.exp_id, r.cycle) for r in runs] == schedule([e.exp_id for e in exps], 2, "interleaved")
        assert {r.state for r in runs} == {"pending"}
        assert manifest.integrity_ok()


def test_transitions_persist_across_reopen_and_a_dead_running_run_is_retried(tmp_path: Path) -> None:
    exps = experiments()
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps)
        first, second = manifest.runs()[:2]
        manifest.mark_running(first.exp_id, first.cycle)
        manifest.mark_finished(first.exp_id, first.cycle, "done", exit_code=0)
        manifest.mark_running(second.exp_id, second.cycle)  # and then the process "dies"
    with Manifest.open(tmp_path) as manifest:
        report = sync(manifest, exps)
        assert report.recovered == [(second.exp_id, second.cycle)]
        states = {(r.exp_id, r.cycle): (r.state, r.attempts) for r in manifest.runs()}
        assert states[(first.exp_id, first.cycle)] == ("done", 1)
        assert states[(second.exp_id, second.cycle)] == ("pending", 1)


def test_changed_campaign_keeps_results_adds_new_reports_removed(tmp_path: Path) -> None:
    old, new = experiments("[1, 2]"), experiments("[2, 4]")
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, old)
        for row in manifest.runs():
            manifest.mark_running(row.exp_id, row.cycle)
            manifest.mark_finished(row.exp_id, row.cycle, "done")
        report = sync(manifest, new, sha="b")
        assert report.campaign_changed
        assert report.kept == [old[1].exp_id] and report.added == [new[1].exp_id]
        assert report.removed == [old[0].exp_id]
        counts = manifest.counts()
        assert counts["done"] == 2 and counts["pending"] == 2  # batch 2 kept, batch 4 new
        # the removed experiment's runs stay in the file, out of the active view
        assert len(manifest.runs(active_only=False)) == 6


def test_done_run_dirs_lists_only_finished_active_runs(tmp_path: Path) -> None:
    exps = experiments()
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps, cycles=1)
        row = manifest.runs()[0]
        manifest.mark_running(row.exp_id, row.cycle)
        manifest.mark_finished(row.exp_id, row.cycle, "done")
    assert done_run_dirs(tmp_path) == [run_dir(tmp_path, row.exp_id, row.cycle)]


def test_manifest_refuses_another_campaign(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, experiments())
        with pytest.raises(ValueError, match="belongs to campaign 't'"):
            manifest.sync("other", "a", [], [])


def test_second_lock_is_refused_and_released_on_exit(tmp_path: Path) -> None:
    with (
        campaign_lock(tmp_path),
        pytest.raises(CampaignLocked, match="in use by another"),
        campaign_lock(tmp_path),
    ):
        pass
    with campaign_lock(tmp_path):
        pass  # free again


def test_status_and_resume_queries_use_the_state_index(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, experiments())
        db = manifest._db
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT state, COUNT(*) FROM runs WHERE active = 1 GROUP BY state"
            )
        )
        assert "runs_by_state" in plan


def test_adopting_a_rebuilt_manifests_runs_is_one_transaction(tmp_path: Path) -> None:
    exps = experiments()
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps)
        found = [(r.exp_id, r.cycle) for r in manifest.runs()[:3]]
        statements: list[str] = []
        manifest._db.set_trace_callback(statements.append)
        manifest.adopt(found, "adopted: its valid result.json was on disk")
        manifest._db.set_trace_callback(None)
        assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
        done = {(r.exp_id, r.cycle) for r in manifest.runs(states=("done",))}
        assert done == set(found)
        events = manifest._db.execute(
            "SELECT exp_id, cycle, state FROM events WHERE state = 'done'"
        ).fetchall()
        assert sorted(events) == sorted((e, c, "done") for e, c in found)


def test_run_dicts_are_the_rows_as_dicts(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, experiments())
        first = manifest.runs()[0]
        manifest.mark_running(first.exp_id, first.cycle)
        manifest.mark_finished(first.exp_id, first.cycle, "failed", exit_code=3, error="boom")
        assert manifest.run_dicts() == [r.as_dict() for r in manifest.runs()]
        assert manifest.run_dicts(states=("failed",))[0]["error"] == "boom"


def test_a_second_sync_of_a_large_campaign_keeps_every_run_once(tmp_path: Path) -> None:
    exps = experiments(str(list(range(1, 201))))
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps, cycles=3)
        row = manifest.runs()[0]
        manifest.mark_running(row.exp_id, row.cycle)
        manifest.mark_finished(row.exp_id, row.cycle, "done")
        report = sync(manifest, exps[:150], cycles=3, sha="b")
        assert len(report.removed) == 50 and report.added == []
        assert manifest.counts()["pending"] + manifest.counts()["done"] == 450
        assert len(manifest.runs(active_only=False)) == 600
        configs = manifest.experiment_configs()
        assert configs[exps[0].exp_id] == exps[0].config()


def test_each_experiment_stores_its_own_config_and_shares_its_settings(tmp_path: Path) -> None:
    """100k experiments share one workload and one measurement: stored once each, not per row."""
    exps = experiments(str(list(range(1, 51))))
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps)
        assert manifest._db.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 2
        stored = dict(manifest._db.execute("SELECT exp_id, config FROM experiments"))
        for exp in exps:
            own = {k: v for k, v in exp.config().items() if k not in ("workload", "measurement")}
            assert stored[exp.exp_id] == json.dumps(own, sort_keys=True, separators=(",", ":"))
        assert manifest.experiment_configs() == {e.exp_id: e.config() for e in exps}
    with Manifest.open_readonly(tmp_path) as manifest:
        assert manifest.experiment_configs() == {e.exp_id: e.config() for e in exps}


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE experiments (
    exp_id TEXT PRIMARY KEY, label TEXT NOT NULL, config TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE runs (
    exp_id TEXT NOT NULL REFERENCES experiments(exp_id), cycle INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    position INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER, error TEXT, log_tail TEXT, started_at TEXT, finished_at TEXT, job_id TEXT,
    PRIMARY KEY (exp_id, cycle)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, exp_id TEXT NOT NULL, cycle INTEGER NOT NULL,
    state TEXT NOT NULL, detail TEXT
);
"""


def old_manifest(campaign_dir: Path, exps: list[Experiment]) -> None:
    """A manifest as camp wrote it before settings were shared: every row its whole config."""
    campaign_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(campaign_dir / "manifest.sqlite")
    with db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO experiments (exp_id, label, config) VALUES (?, ?, ?)",
            [(e.exp_id, e.label(), json.dumps(e.config(), sort_keys=True)) for e in exps],
        )
        db.executemany(
            "INSERT INTO runs (exp_id, cycle, state, position) VALUES (?, 0, 'done', ?)",
            [(e.exp_id, i) for i, e in enumerate(exps)],
        )
        db.execute("INSERT INTO meta VALUES ('campaign', 't'), ('campaign_sha', 'a')")
    db.close()


def test_an_older_manifest_keeps_its_whole_configs_and_stores_new_experiments_compactly(
    tmp_path: Path,
) -> None:
    old, later = experiments("[1, 2]"), experiments("[1, 2, 3]")[2:]
    old_manifest(tmp_path, old)
    with Manifest.open_readonly(tmp_path) as manifest:  # read as it is, not migrated
        assert manifest.experiment_configs() == {e.exp_id: e.config() for e in old}
        assert [r["label"] for r in manifest.run_dicts()] == [e.label() for e in old]
        assert [json.loads(text) for text in manifest.run_json()] == manifest.run_dicts()
    with Manifest.open(tmp_path) as manifest:  # migrated in place
        assert dict(manifest._db.execute("SELECT exp_id, label FROM runs")) == {
            e.exp_id: e.label() for e in old
        }
        sync(manifest, old + later, cycles=1, sha="b")
        assert manifest.experiment_configs() == {e.exp_id: e.config() for e in old + later}
        references = dict(manifest._db.execute("SELECT exp_id, workload_id FROM experiments"))
        assert [references[e.exp_id] is None for e in old + later] == [True, True, False]
        assert manifest.counts()["done"] == 2 and manifest.integrity_ok()
        assert [r.label for r in manifest.runs()] == [e.label() for e in old + later]


def test_each_run_as_json_is_its_dict_encoded(tmp_path: Path) -> None:
    """`camp status --json` prints SQLite's json_object of each run: the same values as the
    run's dict, whatever its text holds, inactive runs only when asked for."""
    exps = experiments("[1, 2, 3]")
    with Manifest.open(tmp_path) as manifest:
        sync(manifest, exps)
        first, second = manifest.runs()[:2]
        manifest.mark_running(first.exp_id, first.cycle)
        manifest.mark_finished(
            first.exp_id, first.cycle, "failed", exit_code=-9, error='a "b"\n\t\\ é ✓ \x01'
        )
        manifest.mark_running(second.exp_id, second.cycle)
        manifest.record_job(second.exp_id, second.cycle, "42")
        sync(manifest, exps[:2], sha="b")  # the third experiment's runs inactive
        for active_only in (True, False):
            texts = manifest.run_json(active_only=active_only)
            assert [json.loads(t) for t in texts] == manifest.run_dicts(active_only=active_only)
        assert len(manifest.run_json()) == 4 and len(manifest.run_json(active_only=False)) == 6


def test_a_new_manifest_refuses_an_order_naming_an_experiment_it_does_not_have(tmp_path: Path) -> None:
    """Its runs are checked against the campaign in Python (no foreign-key look-up per row)."""
    exps = experiments()
    with Manifest.open(tmp_path) as manifest:
        with pytest.raises(ValueError, match="not in the campaign"):
            manifest.sync("t", "a", exps[:1], schedule([e.exp_id for e in exps], 1, "interleaved"))
        assert manifest._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # on again
        assert manifest.counts()["pending"] == 0
        sync(manifest, exps)
        assert manifest.counts()["pending"] == 4 and manifest.integrity_ok()
