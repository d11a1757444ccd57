"""Pipelines end to end: dependencies between work units on Local, the real Slurm and Grid Engine.

Every unit is added (submitted) inside the `with` block, which then closes:
on the clusters nothing of the launch stays alive (its SSH connection is
closed, no process submits anything later), so the order the tasks ran in is
the scheduler's doing. The test then follows the experiment as `lxm3 status`
would, reloaded from the store, and checks the probe's own start/end times.
Local runs the same pipelines in-process (the launcher is the scheduler there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from lxm3 import xm, xm_cluster
from lxm3.cli.status import status_json
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster.dependencies import cancel_with_dependents
from tests.e2e.conftest import SlurmCluster, probe_dir, remote_root, slurm_cluster, slurm_testbed
from tests.e2e.conftest_sge import sge_cluster, sge_remote_root, sge_testbed

__all__ = [  # fixtures, used by name
    "probe_dir",
    "remote_root",
    "sge_cluster",
    "sge_remote_root",
    "sge_testbed",
    "slurm_cluster",
    "slurm_testbed",
]


@attrs.frozen
class Where:
    """Where a pipeline runs: an executor, its spec, and how to read what the tasks recorded."""

    name: str
    executor: Callable[..., Any]
    spec: Any
    read_records: Callable[[str], dict[int, dict[str, Any]]]

    @property
    def on_cluster(self) -> bool:
        return self.name != "local"


def _local_records(log_dir: str) -> dict[int, dict[str, Any]]:
    records = {}
    for path in Path(log_dir).glob("[0-9]*.out"):
        lines = path.read_text().strip().splitlines()
        if lines:
            records[int(path.name.split(".")[0])] = json.loads(lines[-1])
    return records


CLUSTERS = [
    pytest.param("local", id="local"),
    pytest.param("slurm", id="slurm", marks=[pytest.mark.slurm, pytest.mark.ssh]),
    pytest.param("sge", id="sge", marks=[pytest.mark.sge, pytest.mark.ssh]),
]


def _where(name: str, request: pytest.FixtureRequest) -> Where:
    if name == "local":
        request.getfixturevalue("lxm_config")
        return Where(
            "local",
            lambda **kw: xm_cluster.Local(max_parallel=4, **kw),
            xm_cluster.Local.Spec(),
            _local_records,
        )
    cluster: SlurmCluster = request.getfixturevalue("slurm_cluster" if name == "slurm" else "sge_cluster")
    if name == "slurm":
        return Where("slurm", xm_cluster.Slurm, xm_cluster.Slurm.Spec(), cluster.read_records)
    return Where("sge", xm_cluster.GridEngine, xm_cluster.GridEngine.Spec(), cluster.read_records)


@pytest.fixture(params=CLUSTERS)
def where(request: pytest.FixtureRequest) -> Where:
    return _where(request.param, request)


@pytest.fixture(params=CLUSTERS[1:])
def cluster_where(request: pytest.FixtureRequest) -> Where:
    return _where(request.param, request)


def array(executable: Any, where: Where, sleeps: list[float], exits: list[int] | None = None) -> Any:
    exits = exits or [0] * len(sleeps)
    return xm_cluster.ArrayJob(
        executable,
        where.executor(),
        args=[{"i": i} for i in range(len(sleeps))],
        env_vars=[{"PROBE_SLEEP": str(s), "PROBE_EXIT": str(e)} for s, e in zip(sleeps, exits, strict=True)],
    )


def single(executable: Any, where: Where, **env: str) -> Any:
    return xm.Job(executable, where.executor(), env_vars={f"PROBE_{k.upper()}": v for k, v in env.items()})


def final_states(experiment_id: int, timeout: float = 300) -> dict[int, list[TaskStatus]]:
    """Every unit's task states once all ended, read from the store as `lxm3 status` does."""
    deadline = time.monotonic() + timeout
    experiment = xm_cluster.get_experiment(experiment_id)
    while True:
        results = experiment.task_statuses()
        states = {wu: [s for _, tasks in jobs for s in tasks.values()] for wu, jobs in results.items()}
        if all(s.state.is_terminal for tasks in states.values() for s in tasks):
            return states
        if time.monotonic() > deadline:
            pytest.fail(f"experiment {experiment_id} did not end: {states}")
        time.sleep(1)


def log_dir(unit: Any) -> str:
    [job] = unit.jobs
    return job.log_dir


def package(experiment: Any, probe_package: Any, where: Where) -> Any:
    [executable] = experiment.package([xm.Packageable(probe_package, executor_spec=where.spec)])
    return executable


@pytest.mark.timeout(600)
def test_three_stage_pipeline_runs_in_order_with_the_launcher_gone(where: Where, probe_package: Any) -> None:
    with xm_cluster.create_experiment("pipeline-in-order") as experiment:
        executable = package(experiment, probe_package, where)
        a = experiment.add(array(executable, where, [2, 2])).result()
        b1 = experiment.add(single(executable, where, sleep="1"), dependency=a.after_succeeded()).result()
        b2 = experiment.add(single(executable, where, sleep="1"), dependency=a.after_succeeded()).result()
        c = experiment.add(
            single(executable, where), dependency=b1.after_succeeded() & b2.after_succeeded()
        ).result()
        submitted = [s.job_id for unit in (a, b1, b2, c) for job in unit.jobs for s in job.submitted]
    assert len(submitted) == 4 and all(submitted), "every stage was submitted before the launcher closed"

    states = final_states(experiment.experiment_id)
    assert {wu: [s.state for s in tasks] for wu, tasks in states.items()} == {
        1: [TaskState.COMPLETED] * 2,
        2: [TaskState.COMPLETED],
        3: [TaskState.COMPLETED],
        4: [TaskState.COMPLETED],
    }
    records = {unit.work_unit_id: where.read_records(log_dir(unit)) for unit in (a, b1, b2, c)}
    a_end = max(r["end"] for r in records[1].values())
    for stage in (2, 3):
        assert records[stage][0]["start"] >= a_end, f"work unit {stage} started before work unit 1 ended"
    assert records[4][0]["start"] >= max(records[2][0]["end"], records[3][0]["end"])

    document = status_json(
        experiment.experiment_id,
        xm_cluster.get_experiment(experiment.experiment_id).task_statuses(),
        experiment.store.dependencies(experiment.experiment_id),
    )
    [_, _, _, unit_c] = document["work_units"]
    assert unit_c["depends_on"] == [
        {"work_unit_id": 2, "condition": "succeeded"},
        {"work_unit_id": 3, "condition": "succeeded"},
    ]
    assert "depends_on" not in document["work_units"][0]


@pytest.mark.timeout(600)
def test_failed_stage_cancels_its_dependents_and_runs_its_after_failed_unit(
    where: Where, probe_package: Any
) -> None:
    with xm_cluster.create_experiment("pipeline-failure") as experiment:
        executable = package(experiment, probe_package, where)
        a = experiment.add(array(executable, where, [0.5, 0.5], exits=[0, 3])).result()
        b = experiment.add(single(executable, where), dependency=a.after_succeeded()).result()
        c = experiment.add(single(executable, where), dependency=b.after_succeeded()).result()
        cleanup = experiment.add(single(executable, where), dependency=a.after_failed()).result()

    states = final_states(experiment.experiment_id)
    assert [s.state for s in states[1]] == [TaskState.COMPLETED, TaskState.FAILED]
    [b_state], [c_state], [cleanup_state] = states[2], states[3], states[4]
    assert (b_state.state, b_state.message) == (TaskState.CANCELLED, "dependency on work unit 1 failed")
    assert (c_state.state, c_state.message) == (
        TaskState.CANCELLED,
        "dependency on work unit 2 was cancelled",
    )
    assert cleanup_state.state is TaskState.COMPLETED
    assert where.read_records(log_dir(b)) == {} and where.read_records(log_dir(c)) == {}, "never ran"
    assert where.read_records(log_dir(cleanup))[0]["start"] >= max(
        r["end"] for r in where.read_records(log_dir(a)).values()
    )
    document = status_json(
        experiment.experiment_id,
        xm_cluster.get_experiment(experiment.experiment_id).task_statuses(),
        experiment.store.dependencies(experiment.experiment_id),
    )
    unit_b = document["work_units"][1]
    assert unit_b["state"] == "CANCELLED" and unit_b["reason"] == "dependency on work unit 1 failed"
    assert unit_b["depends_on"] == [{"work_unit_id": 1, "condition": "succeeded"}]
    assert document["work_units"][3]["depends_on"] == [{"work_unit_id": 1, "condition": "failed"}]


@pytest.mark.timeout(600)
def test_per_task_dependency_pairs_task_i_with_task_i(where: Where, probe_package: Any) -> None:
    with xm_cluster.create_experiment("pipeline-per-task") as experiment:
        executable = package(experiment, probe_package, where)
        a = experiment.add(array(executable, where, [10, 2, 0])).result()
        b = experiment.add(
            array(executable, where, [0, 0, 0]), dependency=a.after_succeeded(per_task=True)
        ).result()
    states = final_states(experiment.experiment_id)
    assert all(s.state is TaskState.COMPLETED for s in states[1] + states[2])
    first, second = where.read_records(log_dir(a)), where.read_records(log_dir(b))
    for task in range(3):
        assert second[task]["start"] >= first[task]["end"], f"task {task} ran before its counterpart ended"
    assert second[2]["start"] < first[0]["end"], "task 2 waited for task 0: not paired task by task"


@pytest.mark.timeout(900)
def test_dependency_on_a_split_array_waits_for_all_its_chunks(
    cluster_where: Where, probe_package: Any
) -> None:
    """The testbed's array limit is 101: 102 tasks are two scheduler arrays, waited on as one unit."""
    where = cluster_where
    sleeps = [0.0] * 102
    sleeps[101] = 6.0
    with xm_cluster.create_experiment("pipeline-split") as experiment:
        executable = package(experiment, probe_package, where)
        a = experiment.add(array(executable, where, sleeps)).result()
        b = experiment.add(single(executable, where), dependency=a.after_succeeded()).result()
        c = experiment.add(single(executable, where), dependency=a.after_failed()).result()
    [job] = a.jobs
    assert len(job.submitted) == 2, "split into two arrays"
    states = final_states(experiment.experiment_id, timeout=600)
    assert all(s.state is TaskState.COMPLETED for s in states[1] + states[2])
    [c_state] = states[3]
    assert (c_state.state, c_state.message) == (TaskState.CANCELLED, "dependency on work unit 1 did not fail")
    records = where.read_records(log_dir(a))
    assert where.read_records(log_dir(b))[0]["start"] >= records[101]["end"], (
        "B started before the second chunk ended"
    )
    del c


@pytest.mark.timeout(600)
def test_cancel_takes_dependents_along_and_rerun_rearms_them(
    cluster_where: Where, probe_package: Any
) -> None:
    where = cluster_where
    with xm_cluster.create_experiment("pipeline-cancel") as experiment:
        executable = package(experiment, probe_package, where)
        a = experiment.add(single(executable, where, sleep="20")).result()
        experiment.add(single(executable, where), dependency=a.after_finished())
    experiment_id = experiment.experiment_id
    # What `lxm3 cancel EXP --wu 1` does (in this process, which then reads the states: Grid Engine
    # leaves no record of a job deleted while pending, and only the process that deleted it knows).
    _, dependents = cancel_with_dependents(xm_cluster.get_experiment(experiment_id), [1])
    assert dependents == {experiment_id: {2}}
    states = final_states(experiment_id)
    assert [s.state for s in states[1] + states[2]] == [TaskState.CANCELLED] * 2

    # Rerunning the predecessor re-arms its dependent: it runs again, after it.
    reloaded = xm_cluster.get_experiment(experiment_id)
    report = reloaded.rerun_failed([1])
    assert [(wu, tasks) for wu, _, tasks, _ in report.jobs] == [(1, [0]), (2, [0])]
    states = final_states(experiment_id)
    assert [s.state for s in states[1] + states[2]] == [TaskState.COMPLETED] * 2
    first, second = (
        where.read_records(log_dir(a)),
        where.read_records(reloaded.work_units[2].jobs[0].first.log_dir),
    )
    assert second[0]["start"] >= first[0]["end"]


@pytest.mark.timeout(600)
def test_dependency_on_a_unit_of_another_experiment(cluster_where: Where, probe_package: Any) -> None:
    where = cluster_where
    with xm_cluster.create_experiment("pipeline-upstream") as upstream:
        executable = package(upstream, probe_package, where)
        upstream.add(single(executable, where, sleep="3"))
    earlier = xm_cluster.get_experiment(upstream.experiment_id).work_units[1]
    with xm_cluster.create_experiment("pipeline-downstream") as downstream:
        executable = package(downstream, probe_package, where)
        later = downstream.add(single(executable, where), dependency=earlier.after_succeeded()).result()
    states = final_states(downstream.experiment_id)
    assert [s.state for s in states[1]] == [TaskState.COMPLETED]
    [before] = earlier.jobs
    assert (
        where.read_records(log_dir(later))[0]["start"] >= where.read_records(before.first.log_dir)[0]["end"]
    )
    assert (
        downstream.store.dependencies(downstream.experiment_id)[0]["on_experiment_id"]
        == upstream.experiment_id
    )
