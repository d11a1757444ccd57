"""The experiment store: migrations, concurrent writers from many processes, records."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lxm3.store.db import MIGRATIONS, ExperimentStore, open_store, process_alive, process_start_time
from lxm3.xm_cluster.executors.local import Local


def _job_record(**extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "name": "train",
        "target": "local",
        "scheduler": "local",
        "num_tasks": 3,
        "remote_dir": "/staging/experiments/1/1/train",
        "local_dir": "/staging/experiments/1/1/train",
        "artifacts": ["artifacts/abc.zip"],
        "submitted": [{"job_id": "local-1-1", "offset": 0, "count": 3, "script": "/staging/job-0.sh"}],
    }
    record.update(extra)
    return record


def test_fresh_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    assert store.schema_version == len(MIGRATIONS)
    experiment_id = store.create_experiment("fresh", project="p", argv=["launch.py", "--x"])
    record = store.experiment(experiment_id)
    assert record is not None
    assert record["title"] == "fresh" and record["argv"] == ["launch.py", "--x"]
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    [attempt] = store.attempts(experiment_id)
    assert (attempt["attempt"], attempt["kind"]) == (1, "launch")


def test_migration_from_schema_1_keeps_rows_and_backfills(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO experiments (title, created, argv) VALUES ('old', 1.0, '[\"a.py\"]')")
    db.execute(
        "INSERT INTO jobs (experiment_id, work_unit_id, name, target, scheduler, num_tasks, remote_dir, submitted, created)"
        " VALUES (1, 1, 'train', 'local', 'local', 2, '/s/experiments/1/1/train', '[]', 1.0)"
    )
    db.close()

    store = ExperimentStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.experiment(1)["title"] == "old"  # type: ignore[index]
    [attempt] = store.attempts(1)
    assert (attempt["attempt"], attempt["kind"], attempt["argv"]) == (1, "launch", ["a.py"])
    [job] = store.jobs(1)
    assert job["log_dir"] == "/s/experiments/1/1/train/logs"
    assert job["final"] is None and job["executor_pickle"] is None
    # New ids continue after the old ones; reopening migrates nothing twice.
    assert store.create_experiment("new") == 2
    assert ExperimentStore(path).schema_version == len(MIGRATIONS)


def _open_old_store(path: str) -> int:
    return ExperimentStore(Path(path)).schema_version


def test_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.close()
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        versions = pool.map(_open_old_store, [str(path)] * 12)
    assert versions == [len(MIGRATIONS)] * 12


def _create_many(args: tuple[str, int]) -> list[int]:
    path, count = args
    store = ExperimentStore(Path(path))
    return [store.create_experiment(f"exp-{os.getpid()}-{n}", argv=["x"]) for n in range(count)]


def test_concurrent_launches_get_distinct_ids(tmp_path: Path) -> None:
    """Many processes creating experiments at once (a fresh store, so they also race to create it)."""
    path = tmp_path / "race" / "store.sqlite3"
    workers, per_worker = 8, 15
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(_create_many, [(str(path), per_worker)] * workers)
    ids = [i for chunk in results for i in chunk]
    assert len(ids) == len(set(ids)) == workers * per_worker
    assert sorted(ids) == list(range(1, workers * per_worker + 1))
    store = ExperimentStore(path)
    assert len(store.experiments(limit=None)) == workers * per_worker
    assert all(len(store.attempts(i)) == 1 for i in ids)
    assert store._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _add_attempt(args: tuple[str, int]) -> int:
    path, experiment_id = args
    return ExperimentStore(Path(path)).add_attempt(experiment_id, "rerun", ["rerun"])


def test_concurrent_reruns_get_distinct_attempt_numbers(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    experiment_id = ExperimentStore(path).create_experiment("e")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        attempts = pool.map(_add_attempt, [(str(path), experiment_id)] * 8)
    assert sorted(attempts) == list(range(2, 10))


def test_a_store_crosses_fork_safely(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    store.create_experiment("parent")
    context = multiprocessing.get_context("fork")
    process = context.Process(target=store.create_experiment, args=("child",))
    process.start()
    process.join(30)
    assert process.exitcode == 0
    assert sorted(r["title"] for r in store.experiments()) == ["child", "parent"]


def test_a_second_store_object_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops this process's POSIX locks on it, SQLite's too.

    If opening a second store object on the same file did that, another process closing the
    last connection it sees would delete the WAL under the first object's open connection
    (seen as "disk I/O error" and "database disk image is malformed" when `lxm3 status` ran
    in the test process while `lxm3 cancel` wrote the store).
    """
    path = tmp_path / "store.sqlite3"
    first = ExperimentStore(path)
    assert first.jobs(1) == []  # holds a connection (and its locks)
    ExperimentStore(path)
    other = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL')\n"
        "db.execute('PRAGMA user_version')\n"
        "db.close()\n"
    )
    subprocess.run([sys.executable, "-c", other, str(path)], check=True)
    assert path.with_name(path.name + "-wal").exists(), "another process took itself for the last one"
    assert first.jobs(1) == []


def test_jobs_keep_executor_task_ids_and_final_states(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    experiment_id = store.create_experiment("e")
    store.add_work_unit(experiment_id, 1, {"lr": 0.1})
    executor = Local(max_parallel=2)
    first = store.add_job(experiment_id, 1, _job_record(executor=executor, label="1_1_train"))
    second = store.add_job(
        experiment_id,
        1,
        _job_record(
            attempt=store.add_attempt(experiment_id),
            task_ids=[2, 0],
            submitted=[
                {"job_id": "local-1-2", "offset": 0, "count": 2, "index_map": "/m", "task_ids": [0, 2]}
            ],
        ),
    )
    rows = store.jobs(experiment_id)
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0]["executor"] == repr(executor)
    assert pickle.loads(rows[0]["executor_pickle"]) == executor
    assert rows[0]["label"] == "1_1_train" and rows[0]["task_ids"] is None
    assert rows[0]["pid"] == os.getpid()
    assert rows[1]["attempt"] == 2 and rows[1]["task_ids"] == [0, 2]
    assert rows[1]["submitted"][0]["index_map"] == "/m"
    assert store.work_units(experiment_id)[0]["args"] == {"lr": 0.1}

    store.set_final({first: {0: {"state": "COMPLETED", "exit_code": 0}}})
    assert store.jobs(experiment_id)[0]["final"] == {"0": {"state": "COMPLETED", "exit_code": 0}}
    assert store.jobs_of([experiment_id, 99]) == {experiment_id: store.jobs(experiment_id), 99: []}
    store.mark_cleaned([experiment_id])
    assert store.experiment(experiment_id)["cleaned"] is not None  # type: ignore[index]


def test_unpicklable_executor_is_recorded_without_pickle(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    experiment_id = store.create_experiment("e")

    class Unpicklable:
        def __reduce__(self) -> object:
            raise TypeError("no")

    store.add_job(experiment_id, 1, _job_record(executor=Unpicklable()))
    [row] = store.jobs(experiment_id)
    assert row["executor_pickle"] is None and "Unpicklable" in row["executor"]


def test_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "env.sqlite3"))
    assert open_store().path == tmp_path / "env.sqlite3"
    assert open_store(str(tmp_path / "configured.sqlite3")).path == tmp_path / "configured.sqlite3"


def test_damaged_store_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(Exception, match="cannot open the experiment store"):
        ExperimentStore(path)


def test_process_alive() -> None:
    me = os.getpid()
    assert process_alive(me, socket.gethostname(), process_start_time(me)) is True
    assert process_alive(me, socket.gethostname(), "1") is False  # the pid was reused by another process
    assert process_alive(None, None, None) is False
    assert process_alive(me, "another-host.invalid", None) is None
    child = multiprocessing.get_context("spawn").Process(target=os.getpid)
    child.start()
    child.join()
    assert process_alive(child.pid, None, None) is False
