"""The typed job record: what launch and rerun write is what reload reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxm3.runtime.job_paths import JobPaths, job_rel
from lxm3.schedulers.base import ArrayChunk, SubmittedJob
from lxm3.store.db import ExperimentStore
from lxm3.store.records import ChunkRecord, JobRecord, ReloadError
from lxm3.xm_cluster.executors.local import Local


def _launch_record() -> JobRecord:
    return JobRecord(
        name="train",
        target_name="local",
        scheduler_name="local",
        num_tasks=4,
        remote_dir="/s/experiments/1/1/train",
        chunks=[
            ChunkRecord.of(SubmittedJob("10", ArrayChunk(0, 2), "/s/x/job-0.sh")),
            ChunkRecord.of(SubmittedJob("11", ArrayChunk(2, 2), "/s/x/job-1.sh")),
        ],
        artifacts=["runtime/task_runner-abc.py"],
        executor=Local(max_parallel=2),
        label="1_1_train",
    )


def test_a_launch_and_a_rerun_round_trip_through_the_store(tmp_path: Path) -> None:
    store = ExperimentStore(tmp_path / "store.sqlite3")
    experiment_id = store.create_experiment("e")
    store.add_job(experiment_id, 1, _launch_record())
    rerun = JobRecord(
        attempt=2,
        name="train",
        target_name="local",
        scheduler_name="local",
        num_tasks=4,
        remote_dir="/s/experiments/1/1/train",
        chunks=[ChunkRecord.of(SubmittedJob("12", ArrayChunk(0, 2), "/s/x/job-a2-0.sh"), [1, 3], "/s/x/map")],
        executor=Local(),
    )
    store.add_job(experiment_id, 1, rerun)
    launch, again = store.job_records(experiment_id)
    assert (launch.attempt, launch.task_ids, launch.is_partial) == (1, [0, 1, 2, 3], False)
    assert launch.chunk_of(3).submitted.job_id == "11"
    assert launch.restore_executor() == Local(max_parallel=2)
    assert launch.executor == repr(Local(max_parallel=2))
    assert launch.log_path(2, "err") == "/s/experiments/1/1/train/logs/2.err"
    assert (again.attempt, again.task_ids, again.is_partial) == (2, [1, 3], True)
    assert again.chunks[0].index_map == "/s/x/map"
    assert again.chunks[0].global_id(1) == 3
    assert store.jobs(experiment_id)[1]["task_ids"] == [1, 3]
    assert store.jobs(experiment_id)[0]["task_ids"] is None


def test_a_record_without_an_executor_cannot_be_restored() -> None:
    record = JobRecord.from_row(
        {
            "name": "t",
            "target": "c",
            "scheduler": "slurm",
            "num_tasks": 1,
            "remote_dir": "/d",
            "submitted": [],
        }
    )
    with pytest.raises(ReloadError, match="holds no executor"):
        record.restore_executor()


def test_job_paths_name_every_file_of_a_job() -> None:
    paths = JobPaths.under("/scratch/lxm3", job_rel(7, 2, "train"))
    assert paths.job_dir == "/scratch/lxm3/experiments/7/2/train"
    assert paths.spec == f"{paths.job_dir}/job.json"
    assert (paths.table, paths.index) == (f"{paths.job_dir}/tasks.jsonl", f"{paths.job_dir}/tasks.idx")
    assert paths.script(0) == f"{paths.job_dir}/job-0.sh"
    assert paths.script(1, attempt=3) == f"{paths.job_dir}/job-a3-1.sh"
    assert paths.index_map(1, 3) == f"{paths.job_dir}/index-a3-1.txt"
    assert paths.log(5, "err") == f"{paths.job_dir}/logs/5.err"
    assert paths.exit_file(5) == f"{paths.job_dir}/logs/5.exit"
    assert paths.attempt_log_dir(2) == f"{paths.job_dir}/logs/attempt-2"
    assert paths.outputs(5) == f"{paths.job_dir}/outputs/5"
    assert JobPaths(paths.job_dir, "/elsewhere").log(0) == "/elsewhere/0.out"
