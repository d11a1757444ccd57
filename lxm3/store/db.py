"""The experiment database: every launch, unit, job and rerun, so it can be looked back on.

SQLite in WAL mode under the XDG data dir (`$LXM3_STORE` or the config's
`[store] path` override it). Experiment ids come from SQLite's autoincrement
inside a write transaction (`BEGIN IMMEDIATE`), so launches at the same
moment, from any number of processes, still get distinct ids; attempt numbers
are allocated the same way. Schema changes go through numbered migrations
recorded in `PRAGMA user_version`; each runs once, inside the transaction
that checks the version, so two processes opening an old store never both
migrate it.

The schema is in `lxm3.store.schema`, opening the file and its connections
in `lxm3.store.connection`, the typed job record in `lxm3.store.records`,
process identity in `lxm3.schedulers.local_process`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lxm3.schedulers.local_process import process_alive, process_start_time, this_process
from lxm3.store.connection import StoreConnection, StoreError, decode_row, default_store_path
from lxm3.store.records import JobRecord, executor_columns
from lxm3.store.schema import MIGRATIONS

__all__ = [
    "MIGRATIONS",
    "ExperimentStore",
    "StoreError",
    "default_store_path",
    "open_store",
    "process_alive",
    "process_start_time",
]


class ExperimentStore(StoreConnection):
    """Process- and thread-safe access to the experiment database: what it records and reads back."""

    # ----- writes -----
    def create_experiment(self, title: str, **fields: Any) -> int:
        """Inserts an experiment (and its attempt 1) and returns its new unique id."""
        pid, host, start = this_process()
        now = time.time()
        argv = json.dumps(fields.get("argv") or [])
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO experiments (title, project, created, launcher, argv, cwd, git_commit, git_dirty,"
                " config_path, pid, host, pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    title,
                    fields.get("project"),
                    now,
                    fields.get("launcher"),
                    argv,
                    fields.get("cwd"),
                    fields.get("git_commit"),
                    None if fields.get("git_dirty") is None else int(bool(fields.get("git_dirty"))),
                    fields.get("config_path"),
                    pid,
                    host,
                    start,
                ),
            )
            experiment_id = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO attempts (experiment_id, attempt, kind, created, argv, pid, host) VALUES (?, 1, 'launch', ?, ?, ?, ?)",
                (experiment_id, now, argv, pid, host),
            )
            return experiment_id

    def add_attempt(self, experiment_id: int, kind: str = "rerun", argv: Sequence[str] | None = None) -> int:
        """Allocates the experiment's next attempt number (2 for the first rerun)."""
        pid, host, _ = this_process()
        with self._transaction() as db:
            row = db.execute(
                "SELECT MAX(attempt) FROM attempts WHERE experiment_id = ?", (experiment_id,)
            ).fetchone()
            jobs_row = db.execute(
                "SELECT MAX(attempt) FROM jobs WHERE experiment_id = ?", (experiment_id,)
            ).fetchone()
            attempt = max(row[0] or 1, jobs_row[0] or 1) + 1
            db.execute(
                "INSERT INTO attempts (experiment_id, attempt, kind, created, argv, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment_id, attempt, kind, time.time(), json.dumps(list(argv or [])), pid, host),
            )
            return attempt

    def add_work_unit(self, experiment_id: int, work_unit_id: int, args: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO work_units (experiment_id, work_unit_id, args, created) VALUES (?, ?, ?, ?)",
                (experiment_id, work_unit_id, json.dumps(args, default=repr), time.time()),
            )

    def add_job(self, experiment_id: int, work_unit_id: int, job: JobRecord | Mapping[str, Any]) -> int:
        """Records a submitted job (one attempt of it); the calling process is its owner.

        The record's executor may be the executor object itself: its repr is
        stored for people and a pickle for `lxm3 rerun`, which renders new
        scripts with it. (A mapping with the row's column names is accepted too.)
        """
        record = job.to_row() if isinstance(job, JobRecord) else job
        executor, executor_pickle = executor_columns(record.get("executor"), record.get("executor_pickle"))
        # A parameter controller's units are imported with the controller process as owner.
        owner = record.get("owner")
        pid, host, start = tuple(owner) if owner else this_process()
        task_ids = record.get("task_ids")
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO jobs (experiment_id, work_unit_id, attempt, name, target, scheduler, num_tasks,"
                " remote_dir, local_dir, artifacts, submitted, executor, created, task_ids, log_dir, label,"
                " executor_pickle, pid, host, pid_start)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    json.dumps(list(record.get("artifacts", []))),
                    json.dumps(record["submitted"]),
                    executor,
                    time.time(),
                    None if task_ids is None else json.dumps(sorted(task_ids)),
                    record.get("log_dir") or f"{record['remote_dir']}/logs",
                    record.get("label"),
                    executor_pickle,
                    pid,
                    host,
                    start,
                ),
            )
            return int(cursor.lastrowid or 0)

    def add_dependencies(
        self, experiment_id: int, work_unit_id: int, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Records what a work unit waits on (see `lxm3.xm_cluster.dependencies.store_rows`)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO dependencies (experiment_id, work_unit_id, mode, on_experiment_id, on_work_unit_id,"
                " condition, per_task) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        experiment_id,
                        work_unit_id,
                        row["mode"],
                        row["on_experiment_id"],
                        row["on_work_unit_id"],
                        row["condition"],
                        int(bool(row.get("per_task"))),
                    )
                    for row in rows
                ],
            )

    def set_final(self, states: Mapping[int, Mapping[int, Mapping[str, Any]]]) -> None:
        """Caches the final task states of job rows: row id -> {task: {"state", "exit_code", ...}}."""
        if not states or self.read_only:  # a cache: a read-only store just asks again next time
            return
        with self._transaction() as db:
            db.executemany(
                "UPDATE jobs SET final = ? WHERE id = ?",
                [
                    (json.dumps({str(task): value for task, value in tasks.items()}), row)
                    for row, tasks in states.items()
                ],
            )

    def mark_cleaned(self, experiment_ids: Iterable[int]) -> None:
        ids = list(experiment_ids)
        if not ids:
            return
        now = time.time()
        with self._transaction() as db:
            db.executemany("UPDATE experiments SET cleaned = ? WHERE id = ?", [(now, i) for i in ids])

    def discard_if_empty(self, experiment_id: int) -> bool:
        """Deletes an experiment that recorded no job (a launch that submitted nothing)."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE experiment_id = ? LIMIT 1", (experiment_id,)).fetchone():
                return False
            for table, column in (
                ("work_units", "experiment_id"),
                ("attempts", "experiment_id"),
                ("experiments", "id"),
            ):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (experiment_id,))
            return True

    # ----- reads -----
    def experiment(self, experiment_id: int) -> dict[str, Any] | None:
        row = (
            self._connection().execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        )
        return decode_row(row) if row else None

    def experiments(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The most recent experiments first (all of them when `limit` is None)."""
        rows = (
            self._connection()
            .execute("SELECT * FROM experiments ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,))
            .fetchall()
        )
        return [decode_row(row) for row in rows]

    def last_cluster_targets(self, launcher: str) -> list[str] | None:
        """The cluster targets the most recent launch of `launcher` used (not `local`); None: never launched."""
        row = (
            self._connection()
            .execute("SELECT id FROM experiments WHERE launcher = ? ORDER BY id DESC LIMIT 1", (launcher,))
            .fetchone()
        )
        if row is None:
            return None
        rows = (
            self._connection()
            .execute(
                "SELECT DISTINCT target FROM jobs WHERE experiment_id = ? AND scheduler != 'local'", (row[0],)
            )
            .fetchall()
        )
        return sorted(r[0] for r in rows)

    def attempts(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = (
            self._connection()
            .execute("SELECT * FROM attempts WHERE experiment_id = ? ORDER BY attempt", (experiment_id,))
            .fetchall()
        )
        return [decode_row(row) for row in rows]

    def work_units(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM work_units WHERE experiment_id = ? ORDER BY work_unit_id", (experiment_id,)
            )
            .fetchall()
        )
        return [decode_row(row) for row in rows]

    def jobs(self, experiment_id: int, work_unit_id: int | None = None) -> list[dict[str, Any]]:
        """Job rows of every attempt, oldest first."""
        query = "SELECT * FROM jobs WHERE experiment_id = ?"
        params: tuple[Any, ...] = (experiment_id,)
        if work_unit_id is not None:
            query += " AND work_unit_id = ?"
            params += (work_unit_id,)
        rows = self._connection().execute(query + " ORDER BY id", params).fetchall()
        return [decode_row(row) for row in rows]

    def job_records(self, experiment_id: int, work_unit_id: int | None = None) -> list[JobRecord]:
        """The typed records of every job attempt, oldest first."""
        return [JobRecord.from_row(row) for row in self.jobs(experiment_id, work_unit_id)]

    def dependencies(self, experiment_id: int) -> list[dict[str, Any]]:
        """What the experiment's work units wait on, one row per condition."""
        rows = (
            self._connection()
            .execute("SELECT * FROM dependencies WHERE experiment_id = ? ORDER BY rowid", (experiment_id,))
            .fetchall()
        )
        return [dict(row) for row in rows]

    def dependents(self, units: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """Rows of the work units (of any experiment) that wait on the given (experiment, work unit)s."""
        result: list[dict[str, Any]] = []
        for experiment_id, work_unit_id in units:
            rows = (
                self._connection()
                .execute(
                    "SELECT * FROM dependencies WHERE on_experiment_id = ? AND on_work_unit_id = ? ORDER BY rowid",
                    (experiment_id, work_unit_id),
                )
                .fetchall()
            )
            result.extend(dict(row) for row in rows)
        return result

    def jobs_of(self, experiment_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Job rows of many experiments in one query: experiment id -> rows, oldest first."""
        result: dict[int, list[dict[str, Any]]] = {i: [] for i in experiment_ids}
        ids = list(experiment_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = (
                self._connection()
                .execute(f"SELECT * FROM jobs WHERE experiment_id IN ({marks}) ORDER BY id", part)
                .fetchall()
            )
            for row in rows:
                result[row["experiment_id"]].append(decode_row(row))
        return result


def open_store(config_store_path: str | None = None) -> ExperimentStore:
    """The store a launch with this config uses: the config's `[store] path`, else the default."""
    return ExperimentStore(Path(config_store_path).expanduser() if config_store_path else None)
