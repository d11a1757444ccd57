"""The experiment database: every launch, unit and job, so it can be looked back on.

SQLite in WAL mode under the XDG data dir (`$LXM3_STORE` or the config's
`[store] path` override it). Experiment ids come from SQLite's autoincrement
inside a write transaction, so two launches at the same moment still get
distinct ids. Schema changes go through numbered migrations.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: experiments, work units, jobs.
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        project TEXT,
        created REAL NOT NULL,
        launcher TEXT,
        argv TEXT,
        cwd TEXT,
        git_commit TEXT,
        git_dirty INTEGER,
        config_path TEXT
    );
    CREATE TABLE work_units (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        work_unit_id INTEGER NOT NULL,
        args TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (experiment_id, work_unit_id)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER NOT NULL,
        work_unit_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        scheduler TEXT NOT NULL,
        num_tasks INTEGER NOT NULL,
        remote_dir TEXT NOT NULL,
        local_dir TEXT,
        artifacts TEXT,
        submitted TEXT NOT NULL,
        executor TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX jobs_by_unit ON jobs(experiment_id, work_unit_id);
    """,
]


def default_store_path() -> Path:
    explicit = os.environ.get("LXM3_STORE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "lxm3" / "experiments.sqlite3"


class ExperimentStore:
    """Thread-safe access to the experiment database."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._transaction() as db:
            self._migrate(db)

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    # ----- writes -----
    def create_experiment(self, title: str, **fields: Any) -> int:
        """Inserts an experiment and returns its new unique id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO experiments (title, project, created, launcher, argv, cwd, git_commit, git_dirty, config_path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    fields.get("project"),
                    time.time(),
                    fields.get("launcher"),
                    json.dumps(fields.get("argv") or []),
                    fields.get("cwd"),
                    fields.get("git_commit"),
                    None if fields.get("git_dirty") is None else int(bool(fields.get("git_dirty"))),
                    fields.get("config_path"),
                ),
            )
            return int(cursor.lastrowid or 0)

    def add_work_unit(self, experiment_id: int, work_unit_id: int, args: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO work_units (experiment_id, work_unit_id, args, created) VALUES (?, ?, ?, ?)",
                (experiment_id, work_unit_id, json.dumps(args, default=repr), time.time()),
            )

    def add_job(self, experiment_id: int, work_unit_id: int, record: Mapping[str, Any]) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO jobs (experiment_id, work_unit_id, attempt, name, target, scheduler, num_tasks,"
                " remote_dir, local_dir, artifacts, submitted, executor, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    experiment_id,
                    work_unit_id,
                    record.get("attempt", 1),
                    record["name"],
                    record["target"],
                    record["scheduler"],
                    record["num_tasks"],
                    record["remote_dir"],
                    record.get("local_dir"),
                    json.dumps(record.get("artifacts", [])),
                    json.dumps(record["submitted"]),
                    record.get("executor"),
                    time.time(),
                ),
            )
            return int(cursor.lastrowid or 0)

    # ----- reads -----
    def experiment(self, experiment_id: int) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        return _decode(row) if row else None

    def experiments(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._connection().execute("SELECT * FROM experiments ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_decode(row) for row in rows]

    def work_units(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = self._connection().execute(
            "SELECT * FROM work_units WHERE experiment_id = ? ORDER BY work_unit_id", (experiment_id,)
        ).fetchall()
        return [_decode(row) for row in rows]

    def jobs(self, experiment_id: int, work_unit_id: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM jobs WHERE experiment_id = ?"
        params: tuple[Any, ...] = (experiment_id,)
        if work_unit_id is not None:
            query += " AND work_unit_id = ?"
            params += (work_unit_id,)
        rows = self._connection().execute(query + " ORDER BY id", params).fetchall()
        return [_decode(row) for row in rows]


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    result = dict(row)
    for key in ("argv", "args", "artifacts", "submitted"):
        if key in result and isinstance(result[key], str):
            try:
                result[key] = json.loads(result[key])
            except ValueError:
                pass
    return result
