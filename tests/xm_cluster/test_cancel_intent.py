"""A task the user cancelled shows CANCELLED, whichever of runner or scheduler answers first."""

from __future__ import annotations

from pathlib import Path

from lxm3 import xm_cluster
from lxm3.store.db import ExperimentStore
from lxm3.xm.status import TaskState
from tests.xm_cluster.test_reload import FakeScheduler, _record_job, _status, fake  # noqa: F401


def test_cancelled_tasks_are_cancelled_even_when_the_exit_file_says_143(fake: Path) -> None:  # noqa: F811
    store = ExperimentStore()
    experiment_id = store.create_experiment("cancel")
    job_dir = _record_job(store, fake, experiment_id, 1, ["fake-a"], [4])
    FakeScheduler.answers = {"fake-a": {t: _status(t, TaskState.RUNNING) for t in range(4)}}
    (job_dir / "logs" / "3.exit").write_text("2\n")  # task 3 failed on its own, before the cancel

    report = xm_cluster.get_experiment(experiment_id).cancel()
    assert FakeScheduler.cancelled == [["fake-a"]] and report.active_tasks == 3

    # The runner wrote 143 (SIGTERM) and the scheduler has already forgotten the job.
    FakeScheduler.answers = {}
    (job_dir / "logs" / "0.exit").write_text("143\n")
    (job_dir / "logs" / "1.exit").write_text("130\n")
    statuses = xm_cluster.get_experiment(experiment_id).task_statuses()
    [(_, unit)] = statuses[1]
    assert {t: s.state for t, s in unit.items()} == {
        0: TaskState.CANCELLED,
        1: TaskState.CANCELLED,
        2: TaskState.PENDING,  # not ended yet: no file, nothing from the scheduler
        3: TaskState.FAILED,
    }
    # Once every task ended, the cached final states keep CANCELLED.
    (job_dir / "logs" / "2.exit").write_text("143\n")
    xm_cluster.get_experiment(experiment_id).task_statuses()
    [(_, unit)] = xm_cluster.get_experiment(experiment_id).task_statuses()[1]
    assert [unit[t].state for t in range(4)] == [TaskState.CANCELLED] * 3 + [TaskState.FAILED]


def test_a_store_without_cancels_reads_as_before(fake: Path) -> None:  # noqa: F811
    store = ExperimentStore()
    experiment_id = store.create_experiment("no cancel")
    job_dir = _record_job(store, fake, experiment_id, 1, ["fake-a"], [1])
    (job_dir / "logs" / "0.exit").write_text("143\n")
    [(_, unit)] = xm_cluster.get_experiment(experiment_id).task_statuses()[1]
    assert unit[0].state is TaskState.FAILED and unit[0].exit_code == 143
