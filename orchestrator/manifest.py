"""The durable record of a campaign's progress: one SQLite file per campaign.

Every run is a row keyed by ``(exp_id, cycle)`` moving through
``pending → running → done | failed | interrupted``; each transition is one transaction, so the
file survives ``kill -9`` at any instant and a full disk (the transaction is simply not applied).
A run found ``running`` when a campaign starts belonged to a process that died: it is retried.

The results on disk are the ground truth the manifest indexes. A manifest that is not a database
(zero-length, garbage) is kept aside (renamed ``manifest.sqlite.damaged-<time>``) by ``open``,
and a new one adopts every valid result.json on disk instead of running it again (``adopt``); a
manifest deleted while camp runs is noticed at the next transition (ManifestDamaged).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from camp_contract.layout import manifest_path, run_dir
from orchestrator.gc_pause import gc_paused

if TYPE_CHECKING:
    from orchestrator.grid import Experiment

RunState = Literal["pending", "running", "done", "failed", "interrupted"]
RUN_STATES: tuple[RunState, ...] = ("pending", "running", "done", "failed", "interrupted")
UNFINISHED_STATES: tuple[RunState, ...] = tuple(s for s in RUN_STATES if s != "done")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- settings (a workload, measurement settings) many experiments share, stored once each
CREATE TABLE IF NOT EXISTS settings (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
-- config: the experiment's own part (backend, model, params, seed) as canonical JSON, its
-- workload and measurement by reference; a row without references (written by a camp before
-- them) holds the whole config
CREATE TABLE IF NOT EXISTS experiments (
    exp_id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    config TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    workload_id INTEGER REFERENCES settings(id),
    measurement_id INTEGER REFERENCES settings(id)
);
CREATE TABLE IF NOT EXISTS runs (
    exp_id TEXT NOT NULL REFERENCES experiments(exp_id),
    cycle INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'interrupted')),
    position INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    error TEXT,
    log_tail TEXT,
    started_at TEXT,
    finished_at TEXT,
    job_id TEXT,
    label TEXT,  -- its experiment's label, copied: `camp status --json` reads one table
    PRIMARY KEY (exp_id, cycle)
);
-- what `camp status` counts and lists and a resumed `camp run` picks up: runs by state, in order
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (active, state, position);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    exp_id TEXT NOT NULL,
    cycle INTEGER NOT NULL,
    state TEXT NOT NULL,
    detail TEXT
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunRow:
    exp_id: str
    cycle: int
    state: RunState
    position: int
    attempts: int
    label: str
    exit_code: int | None
    error: str | None
    started_at: str | None
    finished_at: str | None
    job_id: str | None = None  # the scheduler's job of its latest attempt (slurm executor)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


RUN_FIELDS = tuple(f.name for f in fields(RunRow))


@dataclass(frozen=True)
class SyncReport:
    """How the campaign file changed since the manifest last saw it."""

    added: list[str]
    removed: list[str]
    kept: list[str]
    recovered: list[tuple[str, int]]  # runs left `running` by a process that died
    campaign_changed: bool


class ManifestDamaged(RuntimeError):
    """The manifest is not a readable database, or vanished while camp ran; the message names
    it and what ``camp run`` does about it."""


def _damage(path: Path) -> str | None:
    """Why the file at ``path`` is not a manifest (None: it reads as one, or is absent)."""
    try:
        if path.stat().st_size == 0:
            return "it is empty (zero-length)"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            db.execute("SELECT COUNT(*) FROM runs").fetchone()
        finally:
            db.close()
    except FileNotFoundError:
        return None
    except sqlite3.OperationalError:  # locked, or no -shm can be made here: cannot judge, not damage
        return None
    except sqlite3.DatabaseError as err:  # not a database, malformed
        return f"it is not a manifest ({err})"
    return None


def _keep_aside(path: Path) -> Path:
    """Rename a damaged manifest (and its WAL files) out of the way; the new name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    return aside


class Manifest:
    """A campaign's manifest. Open with ``Manifest.open`` (read-write) or ``open_readonly``."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path
        self.kept_aside: str | None = None  # what ``open`` did with a damaged manifest, to say
        self._inode = path.stat().st_ino if path.exists() else None

    @classmethod
    def open(cls, campaign_dir: Path) -> Manifest:
        campaign_dir.mkdir(parents=True, exist_ok=True)
        path = manifest_path(campaign_dir)
        damage = _damage(path)
        aside = _keep_aside(path) if damage else None
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a transition acknowledged is a transition on disk
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA cache_size=-65536")  # 64 MiB: a 100k-run set-up stays in memory
        db.executescript(_SCHEMA)
        _migrate(db)
        manifest = cls(db, path)
        if aside is not None:
            manifest.kept_aside = (
                f"the manifest {path} was damaged ({damage}): kept aside as {aside.name}, rebuilt from "
                "the results on disk"
            )
        return manifest

    @classmethod
    def open_readonly(cls, campaign_dir: Path) -> Manifest:
        """Read, never write: works on a read-only results directory and a full disk (it then
        reads the file as it is, without the lock files SQLite would create)."""
        path = manifest_path(campaign_dir)
        if not path.exists():
            raise FileNotFoundError(f"no manifest at {path}: has this campaign been run?")
        damage = _damage(path)
        if damage is not None:
            raise ManifestDamaged(
                f"the manifest {path} is damaged ({damage}); `camp run` keeps it aside and rebuilds "
                "it from the valid results on disk"
            )
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30)
            db.execute("SELECT COUNT(*) FROM runs").fetchone()
        except sqlite3.OperationalError:  # no -shm can be created here: read the file as it is
            db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, isolation_level=None)
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._check_still_there()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check_still_there(self) -> None:
        """A manifest deleted (or replaced) under a running camp would take every transition
        from here on with it: stop at once, with the fix."""
        try:
            inode: int | None = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if inode != self._inode:
            raise ManifestDamaged(
                f"the manifest {self.path} was deleted or replaced while camp ran; `camp run` again "
                "rebuilds it from the valid results on disk (finished runs are kept)"
            )

    def adopt(self, runs: Sequence[tuple[str, int]], detail: str) -> None:
        """Record as done the runs whose valid result is on disk (a rebuilt manifest's runs), in
        one transaction: all of them, or (killed half-way) none, to be adopted again."""
        at = now_iso()
        with self._transaction() as db:
            db.executemany(
                "UPDATE runs SET state = 'done', finished_at = ?, exit_code = 0, error = NULL "
                "WHERE exp_id = ? AND cycle = ?",
                [(at, exp_id, cycle) for exp_id, cycle in runs],
            )
            db.executemany(
                "INSERT INTO events (at, exp_id, cycle, state, detail) VALUES (?, ?, ?, 'done', ?)",
                [(at, exp_id, cycle, detail) for exp_id, cycle in runs],
            )

    def redo(self, exp_id: str, cycle: int, reason: str) -> None:
        """Send a run marked done back to pending: its result is gone or invalid."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET state = 'pending', error = ? WHERE exp_id = ? AND cycle = ?",
                (reason, exp_id, cycle),
            )
            self._record(db, exp_id, cycle, "pending", reason)

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def sync(
        self,
        campaign_name: str,
        campaign_sha: str,
        experiments: Sequence[Experiment],
        order: Sequence[tuple[str, int]],
    ) -> SyncReport:
        """Make the manifest match the campaign as it is now, keeping every finished run.

        ``order`` is the schedule: every (exp_id, cycle) the campaign wants, in run order.
        """
        by_id = {e.exp_id: e for e in experiments}
        empty = bool(self._db.execute("SELECT NOT EXISTS (SELECT 1 FROM experiments)").fetchone()[0])
        if empty:  # a new manifest: its runs' experiments checked here at once, not row by row
            unknown = next((exp_id for exp_id, _ in order if exp_id not in by_id), None)
            if unknown is not None:
                raise ValueError(f"the run order names experiment {unknown}, which is not in the campaign")
            self._db.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction
        try:
            with gc_paused():  # rows for every experiment and run, built and written at once
                return self._sync(campaign_name, campaign_sha, by_id, order)
        finally:
            if empty:
                self._db.execute("PRAGMA foreign_keys=ON")

    def _sync(
        self,
        campaign_name: str,
        campaign_sha: str,
        by_id: dict[str, Experiment],
        order: Sequence[tuple[str, int]],
    ) -> SyncReport:
        with self._transaction() as db:  # one transaction, its rows written in batches
            stored_name = self.meta("campaign")
            if stored_name is not None and stored_name != campaign_name:
                raise ValueError(
                    f"manifest {self.path} belongs to campaign {stored_name!r}, not {campaign_name!r}"
                )
            previous_sha = self.meta("campaign_sha")
            before = {r[0] for r in db.execute("SELECT exp_id FROM experiments WHERE active = 1")}
            known = {r[0] for r in db.execute("SELECT exp_id FROM experiments")}
            if known:  # an earlier campaign's experiments: only those still in it stay active
                db.execute("UPDATE experiments SET active = 0")
                db.executemany(
                    "UPDATE experiments SET active = 1 WHERE exp_id = ?", [(i,) for i in by_id if i in known]
                )
                db.execute("UPDATE runs SET active = 0")
            labels = _insert_experiments(db, [exp for exp_id, exp in by_id.items() if exp_id not in known])
            if known:  # the experiments kept: their labels as first stored
                labels.update(db.execute("SELECT exp_id, label FROM experiments WHERE active = 1"))
            db.executemany(
                "INSERT INTO runs (exp_id, cycle, state, position, label) VALUES (?, ?, 'pending', ?, ?)"
                + (
                    " ON CONFLICT (exp_id, cycle) DO UPDATE SET position = excluded.position, active = 1"
                    if known
                    else ""
                ),
                ((exp_id, cycle, position, labels[exp_id]) for position, (exp_id, cycle) in enumerate(order)),
            )
            recovered = [
                (r[0], r[1]) for r in db.execute("SELECT exp_id, cycle FROM runs WHERE state = 'running'")
            ]
            for exp_id, cycle in recovered:
                self._record(
                    db, exp_id, cycle, "pending", "left running by a process that stopped; will retry"
                )
            db.execute("UPDATE runs SET state = 'pending' WHERE state = 'running'")
            for key, value in (("campaign", campaign_name), ("campaign_sha", campaign_sha)):
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        now = set(by_id)
        return SyncReport(
            added=sorted(now - before) if before else [],
            removed=sorted(before - now),
            kept=sorted(now & before),
            recovered=recovered,
            campaign_changed=previous_sha is not None and previous_sha != campaign_sha,
        )

    def _record(
        self, db: sqlite3.Connection, exp_id: str, cycle: int, state: str, detail: str | None
    ) -> None:
        db.execute(
            "INSERT INTO events (at, exp_id, cycle, state, detail) VALUES (?, ?, ?, ?, ?)",
            (now_iso(), exp_id, cycle, state, detail),
        )

    def mark_running(self, exp_id: str, cycle: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET state = 'running', attempts = attempts + 1, started_at = ?, "
                "finished_at = NULL, exit_code = NULL, error = NULL, log_tail = NULL, job_id = NULL "
                "WHERE exp_id = ? AND cycle = ?",
                (now_iso(), exp_id, cycle),
            )
            self._record(db, exp_id, cycle, "running", None)

    def record_job(self, exp_id: str, cycle: int, job_id: str) -> None:
        """The scheduler's job now running this attempt: kept through a ``kill -9`` so that the
        next ``camp run`` waits on that job instead of submitting the run again."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET job_id = ? WHERE exp_id = ? AND cycle = ?", (job_id, exp_id, cycle))
            self._record(db, exp_id, cycle, "running", f"job {job_id}")

    def mark_finished(
        self,
        exp_id: str,
        cycle: int,
        state: Literal["done", "failed", "interrupted"],
        *,
        exit_code: int | None = None,
        error: str | None = None,
        log_tail: str | None = None,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET state = ?, finished_at = ?, exit_code = ?, error = ?, log_tail = ? "
                "WHERE exp_id = ? AND cycle = ?",
                (state, now_iso(), exit_code, error, log_tail, exp_id, cycle),
            )
            self._record(db, exp_id, cycle, state, error)

    def runs(self, *, states: Sequence[RunState] = RUN_STATES, active_only: bool = True) -> list[RunRow]:
        """Runs in schedule order."""
        return [RunRow(*row) for row in self._select_runs(states, active_only)]

    def run_dicts(
        self, *, states: Sequence[RunState] = RUN_STATES, active_only: bool = True
    ) -> list[dict[str, Any]]:
        """``runs()`` as plain dicts (``RunRow.as_dict``), read straight from the database."""
        with gc_paused():  # a dict per run, all kept
            return [dict(zip(RUN_FIELDS, row, strict=True)) for row in self._select_runs(states, active_only)]

    def run_json(self, *, active_only: bool = True) -> list[str]:
        """Every run as the JSON text of its ``run_dicts()`` object, in schedule order: written by
        SQLite's ``json_object`` from the one table (100k runs in a tenth of a second, where
        Python's dicts and encoder take four), read whole before any is printed."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "label" in columns:  # else an older manifest, read-only: made in Python below
            pairs = ", ".join(f"'{name}', {name}" for name in RUN_FIELDS)
            query = (
                f"SELECT json_object({pairs}) FROM runs"
                + (" WHERE active = 1" if active_only else "")
                + " ORDER BY position"
            )
            try:
                with gc_paused():  # a string per run, all kept
                    return [text for (text,) in self._db.execute(query)]
            except sqlite3.OperationalError as err:  # an SQLite built without its JSON functions
                if "json_object" not in str(err):
                    raise
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        return [encode(run) for run in self.run_dicts(active_only=active_only)]

    def _select_runs(self, states: Sequence[RunState], active_only: bool) -> sqlite3.Cursor:
        """The runs' columns in ``RunRow``'s order."""
        marks = ",".join("?" for _ in states)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        job_id = "r.job_id" if "job_id" in columns else "NULL"  # an older manifest, read-only
        # a manifest before runs carried their label, read-only: its experiment's
        label, join = (
            ("r.label", "") if "label" in columns else ("e.label", " JOIN experiments e USING (exp_id)")
        )
        query = (
            f"SELECT r.exp_id, r.cycle, r.state, r.position, r.attempts, {label}, r.exit_code, r.error, "
            f"r.started_at, r.finished_at, {job_id} FROM runs r{join} "
            f"WHERE r.state IN ({marks})"
            + (" AND r.active = 1" if active_only else "")
            + " ORDER BY r.position"
        )
        return self._db.execute(query, tuple(states))

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM runs WHERE active = 1 GROUP BY state")
        counts: dict[str, int] = dict.fromkeys(RUN_STATES, 0)
        counts.update({state: n for state, n in rows})
        return counts

    def counts_by_cycle(self, state: RunState) -> dict[int, int]:
        """How many active runs are in ``state``, per cycle (counted by the database)."""
        rows = self._db.execute(
            "SELECT cycle, COUNT(*) FROM runs WHERE active = 1 AND state = ? GROUP BY cycle ORDER BY cycle",
            (state,),
        )
        return {cycle: n for cycle, n in rows}

    def experiment_configs(self) -> dict[str, dict[str, Any]]:
        """Each active experiment's resolved config (``Experiment.config()``), its stored own
        part joined with its shared settings; the settings' dicts are shared between configs."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(experiments)")}
        if "workload_id" not in columns:  # an older manifest, read-only: whole configs
            rows = self._db.execute("SELECT exp_id, config FROM experiments WHERE active = 1")
            return {exp_id: json.loads(config) for exp_id, config in rows}
        settings = {i: json.loads(text) for i, text in self._db.execute("SELECT id, json FROM settings")}
        configs: dict[str, dict[str, Any]] = {}
        query = "SELECT exp_id, config, workload_id, measurement_id FROM experiments WHERE active = 1"
        for exp_id, config, workload_id, measurement_id in self._db.execute(query):
            configs[exp_id] = parsed = json.loads(config)
            if workload_id is not None:
                parsed["workload"] = settings[workload_id]
            if measurement_id is not None:
                parsed["measurement"] = settings[measurement_id]
        return configs

    def log_tail(self, exp_id: str, cycle: int) -> str | None:
        row = self._db.execute(
            "SELECT log_tail FROM runs WHERE exp_id = ? AND cycle = ?", (exp_id, cycle)
        ).fetchone()
        return row[0] if row else None

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a manifest written by an older camp up to this schema, in place. Its experiments
    keep their whole configs (no references); experiments added later are stored compactly."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "job_id" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN job_id TEXT")
    if "label" not in columns:  # the column and its values in one transaction
        db.execute("BEGIN IMMEDIATE")
        db.execute("ALTER TABLE runs ADD COLUMN label TEXT")
        db.execute("UPDATE runs SET label = (SELECT e.label FROM experiments e WHERE e.exp_id = runs.exp_id)")
        db.execute("COMMIT")
    columns = {row[1] for row in db.execute("PRAGMA table_info(experiments)")}
    for reference in ("workload_id", "measurement_id"):
        if reference not in columns:
            db.execute(f"ALTER TABLE experiments ADD COLUMN {reference} INTEGER REFERENCES settings(id)")


def _insert_experiments(db: sqlite3.Connection, added: Sequence[Experiment]) -> dict[str, str]:
    """Each experiment's own config, its workload and measurement by reference to ``settings``
    (added where missing: a campaign has a few over thousands of experiments); their labels."""
    shared = [(exp, exp.label(), exp.workload_json, exp.measurement_json) for exp in added]
    distinct = list(
        dict.fromkeys(text for _, _, workload, measurement in shared for text in (workload, measurement))
    )
    db.executemany("INSERT OR IGNORE INTO settings (json) VALUES (?)", [(t,) for t in distinct])
    ids = {
        text: db.execute("SELECT id FROM settings WHERE json = ?", (text,)).fetchone()[0] for text in distinct
    }
    db.executemany(
        "INSERT INTO experiments (exp_id, label, config, active, workload_id, measurement_id) "
        "VALUES (?, ?, ?, 1, ?, ?)",
        (
            (exp.exp_id, label, exp.own_config_json, ids[workload], ids[measurement])
            for exp, label, workload, measurement in shared
        ),
    )
    return {exp.exp_id: label for exp, label, _, _ in shared}


def done_run_dirs(campaign_dir: Path) -> list[Path]:
    """Run directories of every finished run of the campaign as it stands now (for aggregation)."""
    with Manifest.open_readonly(campaign_dir) as manifest:
        return [run_dir(campaign_dir, r.exp_id, r.cycle) for r in manifest.runs(states=("done",))]
