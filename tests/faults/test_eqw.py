"""Tasks Grid Engine holds in Eqw are deleted by `lxm3 cancel` and by `lxm3 rerun`.

Eqw is FAILED for lxm3 (the task will not run) but stays in qstat forever;
before, cancel skipped it as "ended" and rerun queued a new attempt beside it.
The test puts a task in Eqw with a working directory that does not exist.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm.status import TaskState
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed  # noqa: F401

pytestmark = [pytest.mark.sge, pytest.mark.ssh]


def held_launch(probe_package: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    executor = xm_cluster.GridEngine(extra_directives=["-wd /nonexistent/lxm3-eqw"])
    with xm_cluster.create_experiment("eqw") as experiment:
        [executable] = experiment.package(
            [xm.Packageable(probe_package, executor_spec=xm_cluster.GridEngine.Spec())]
        )
        unit = experiment.add(xm.Job(executable, executor)).result()
    [job] = unit.jobs
    deadline = time.monotonic() + 120
    while True:
        [(_, statuses)] = xm_cluster.get_experiment(experiment.experiment_id).task_statuses()[1]
        if statuses[0].state is TaskState.FAILED:
            assert "error state" in statuses[0].message, statuses
            return experiment.experiment_id, job.submitted[0].job_id
        assert time.monotonic() < deadline, statuses
        time.sleep(1)


@pytest.mark.timeout(300)
def test_cancel_deletes_eqw_tasks(
    sge_cluster: Any,  # noqa: F811
    probe_package: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment_id, job_id = held_launch(probe_package, tmp_path, monkeypatch)
    assert job_id in sge_cluster.qstat_jobs()
    xm_cluster.get_experiment(experiment_id).cancel()
    deadline = time.monotonic() + 60
    while job_id in sge_cluster.qstat_jobs():
        assert time.monotonic() < deadline, "the Eqw task is still queued"
        time.sleep(1)


@pytest.mark.timeout(300)
def test_rerun_deletes_the_eqw_attempt(
    sge_cluster: Any,  # noqa: F811
    probe_package: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment_id, job_id = held_launch(probe_package, tmp_path, monkeypatch)
    report = xm_cluster.get_experiment(experiment_id).rerun_failed()
    new_ids = [job_id for _, _, _, ids in report.jobs for job_id in ids]
    assert new_ids and job_id not in new_ids
    deadline = time.monotonic() + 60
    while job_id in sge_cluster.qstat_jobs():
        assert time.monotonic() < deadline, "the old Eqw attempt is still queued"
        time.sleep(1)
    # (the rerun has the same -wd and is held again: delete it so nothing is left behind)
    xm_cluster.get_experiment(experiment_id).cancel()
