"""Grid Engine end to end: launch through the real SSH server to the real SGE of the testbed.

Every test builds the probe package (tests/e2e/conftest.py), launches with
`xm_cluster.GridEngine`, waits through the shared watcher (qstat, then qacct
and end-of-task lines) and checks what the tasks themselves recorded on the cluster.
The testbed being down makes these tests fail.
"""

from __future__ import annotations

import re
import time
from typing import Any, cast

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import deploying, launching
from tests.e2e.conftest_sge import CLUSTER_ENV, GridEngineCluster, sge_cluster, sge_remote_root, sge_testbed
from tests.hostile import HOSTILE_VALUES, SGE_VALUES

__all__ = ["sge_cluster", "sge_remote_root", "sge_testbed"]  # fixtures, used by name

pytestmark = [pytest.mark.sge, pytest.mark.ssh]

HOSTILE = [*HOSTILE_VALUES, *SGE_VALUES]


def package(experiment: Any, spec: Any) -> Any:
    [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.GridEngine.Spec())])
    return executable


def only_job(work_unit: Any) -> Any:
    [job] = work_unit.jobs
    return job


def scheduler_of(work_unit: Any) -> GridEngineScheduler:
    scheduler = only_job(work_unit).target.scheduler
    assert isinstance(scheduler, GridEngineScheduler)
    return scheduler


@pytest.mark.timeout(120)
def test_single_job(sge_cluster: GridEngineCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-sge-single") as experiment:
        executable = package(experiment, probe_package)
        work_unit = experiment.add(
            xm.Job(executable, xm_cluster.GridEngine(), args={"lr": 0.5, "name": "one"})
        ).result()
        work_unit.wait_until_complete()
        status = work_unit.get_status()
        transport = only_job(work_unit).target.transport()
        # Opened by this launch, or a persistent master of an earlier one reused (ssh_persist).
        connections = transport.connections + transport.reused  # type: ignore[attr-defined]
    assert connections == 1, "one launch (deploy, submit, every poll), one SSH connection"
    assert status.is_completed, status.message
    job = only_job(work_unit)
    [submitted] = job.submitted
    assert submitted.job_id.isdigit()
    script = sge_cluster.read_file(submitted.script_path)
    assert "#$ -t" not in script and "#$ -N lxm3_" in script
    records = sge_cluster.read_records(job.log_dir)
    assert records[0]["argv"] == ["--lr=0.5", "--name=one"]
    assert records[0]["task"] == 0
    assert records[0]["env"] == CLUSTER_ENV


@pytest.mark.timeout(120)
def test_hostile_args_and_env_arrive_byte_for_byte(
    sge_cluster: GridEngineCluster, probe_package: Any
) -> None:
    env = {f"PROBE_V{i}": value for i, value in enumerate(HOSTILE)}
    keyword_args = {f"k{i}": value for i, value in enumerate(HOSTILE)}
    with xm_cluster.create_experiment("e2e-sge-hostile 'quotes' \"and\" $(spaces) #$ -q x") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.GridEngine(),
            name="hostile $(job) 'name'\n#$ -q evil",
            args=[list(HOSTILE), keyword_args],
            env_vars=[env, {"PROBE_ONLY": " \t\n'\"$`\\"}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    records = sge_cluster.read_records(only_job(work_unit).log_dir)
    assert records[0]["argv"] == HOSTILE
    assert records[0]["env"] == {**env, **CLUSTER_ENV}
    assert records[1]["argv"] == [f"--k{i}={value}" for i, value in enumerate(HOSTILE)]
    assert records[1]["env"] == {"PROBE_ONLY": " \t\n'\"$`\\", **CLUSTER_ENV}


@pytest.mark.timeout(120)
def test_max_parallel_tasks_throttle_holds(sge_cluster: GridEngineCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-sge-throttle") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.GridEngine(max_parallel_tasks=2),
            args=[{"i": i} for i in range(6)],
            env_vars=[{"PROBE_SLEEP": "2"}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    launched = only_job(work_unit)
    [submitted] = launched.submitted
    assert "#$ -t 1-6\n#$ -tc 2\n" in sge_cluster.read_file(submitted.script_path)
    records = sge_cluster.read_records(launched.log_dir)
    assert sorted(records) == list(range(6))
    assert [records[i]["argv"] for i in range(6)] == [[f"--i={i}"] for i in range(6)]
    events = sorted([(r["start"], 1) for r in records.values()] + [(r["end"], -1) for r in records.values()])
    running, most = 0, 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    assert most == 2, f"at most 2 tasks should run at once (and 2 did), saw {most}"


@pytest.mark.timeout(120)
def test_failing_task_is_reported_with_exit_code_and_log(
    sge_cluster: GridEngineCluster, probe_package: Any
) -> None:
    """Exit 3 fails its task; exit 100 (Grid Engine's "error state") too, with its own code and no Eqw."""
    with xm_cluster.create_experiment("e2e-sge-failure") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.GridEngine(),
            args=[{"i": i} for i in range(4)],
            env_vars=[{"PROBE_EXIT": "0"}, {"PROBE_EXIT": "3"}, {"PROBE_EXIT": "0"}, {"PROBE_EXIT": "100"}],
        )
        work_unit = experiment.add(job).result()
        with pytest.raises(xm.ExperimentUnitFailedError) as caught:
            work_unit.wait_until_complete()
    launched = only_job(work_unit)
    message = str(caught.value)
    assert "2 task(s) failed" in message
    assert "task 1 exit code 3" in message and "task 3 exit code 100" in message
    assert f"{launched.log_dir}/1.err" in message
    failures = sorted((cast(TaskStatus, f) for f in caught.value.failures), key=lambda status: status.index)
    assert [(f.index, f.state, f.exit_code) for f in failures] == [
        (1, TaskState.FAILED, 3),
        (3, TaskState.FAILED, 100),
    ]
    assert sge_cluster.read_file(f"{launched.log_dir}/1.exit").strip() == "3"
    assert work_unit.get_status().counts() == {"COMPLETED": 2, "FAILED": 2}
    [submitted] = launched.submitted
    assert submitted.job_id not in sge_cluster.qstat_jobs(), "nothing may be left in Eqw"


@pytest.mark.timeout(120)
def test_stop_cancels_running_and_pending_tasks(sge_cluster: GridEngineCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-sge-cancel") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.GridEngine(max_parallel_tasks=1),
            args=[{"i": i} for i in range(3)],
            env_vars=[{"PROBE_SLEEP": "120"}],
        )
        work_unit = experiment.add(job).result()
        deadline = time.monotonic() + 30
        while TaskState.RUNNING not in {task.state for task in work_unit.get_status().tasks}:
            assert time.monotonic() < deadline, work_unit.get_status().message
            time.sleep(0.5)
        started = time.monotonic()
        work_unit.stop()
        with pytest.raises(xm.ExperimentUnitNotCompletedError, match="3 task\\(s\\) cancelled"):
            work_unit.wait_until_complete()
        elapsed = time.monotonic() - started
    assert {task.state for task in work_unit.get_status().tasks} == {TaskState.CANCELLED}
    [submitted] = only_job(work_unit).submitted
    assert submitted.job_id not in sge_cluster.qstat_jobs()
    assert elapsed < 30


@pytest.mark.timeout(240)
def test_sweep_larger_than_max_aj_tasks_is_split(sge_cluster: GridEngineCluster, probe_package: Any) -> None:
    """max_aj_tasks=101 on the testbed: 250 tasks become arrays of 101, 101 and 48."""
    with xm_cluster.create_experiment("e2e-sge-split") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.GridEngine(),
            args=[{"i": i, "sq": i * i} for i in range(250)],
        )
        started = time.monotonic()
        work_unit = experiment.add(job).result()
        launch_seconds = time.monotonic() - started
        work_unit.wait_until_complete()
        total_seconds = time.monotonic() - started
    launched = only_job(work_unit)
    assert [(s.chunk.offset, s.chunk.count) for s in launched.submitted] == [(0, 101), (101, 101), (202, 48)]
    assert len({s.job_id for s in launched.submitted}) == 3
    scripts = [sge_cluster.read_file(s.script_path) for s in launched.submitted]
    assert [re.search(r"#\$ -t (\S+)", script)[1] for script in scripts] == ["1-101", "1-101", "1-48"]  # type: ignore[index]
    records = sge_cluster.read_records(launched.log_dir)
    assert sorted(records) == list(range(250))
    for task, record in records.items():
        assert record["task"] == task
        assert record["argv"] == [f"--i={task}", f"--sq={task * task}"]
    watcher = launched.target.watcher
    scheduler = scheduler_of(work_unit)
    print(
        f"\nSGE 250-task sweep: launch {launch_seconds:.2f} s, done after {total_seconds:.1f} s; "
        f"{watcher.queries} polls: {scheduler.qstat_calls} qstat, {scheduler.lookup_calls} lookups, {scheduler.qacct_calls} qacct"
    )
    assert scheduler.qstat_calls == watcher.queries - watcher.errors
    assert scheduler.qacct_calls <= scheduler.lookup_calls <= scheduler.qstat_calls


@pytest.mark.timeout(120)
def test_relaunch_sends_no_artifact_bytes(
    sge_cluster: GridEngineCluster, probe_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing: list[list[str]] = []
    prepare = launching.prepare_remote

    def spy(*args: Any, **kwargs: Any) -> list[str]:
        result = prepare(*args, **kwargs)
        missing.append(list(result))
        return result

    monkeypatch.setattr(deploying, "prepare_remote", spy)
    sent = []
    for attempt in range(2):
        with xm_cluster.create_experiment(f"e2e-sge-relaunch-{attempt}") as experiment:
            executable = package(experiment, probe_package)
            work_unit = experiment.add(
                xm.Job(executable, xm_cluster.GridEngine(), args={"attempt": attempt})
            ).result()
            work_unit.wait_until_complete()
            sent.append(cast(xm_cluster.ClusterExperiment, experiment).bytes_sent)
    assert any(name.startswith("artifacts/") for name in missing[0])
    # The relaunch either checked and found everything in place, or (knowing the cluster has it)
    # skipped the check and deployed inside its submit command.
    assert all(names == [] for names in missing[1:]), (
        "the relaunch found everything content-addressed in place"
    )
    assert sent[0] > executable.artifact.size > 200_000  # the probe ships 256 KiB of random bytes
    assert sent[1] < 50_000, f"relaunch sent {sent[1]} bytes"
