"""Slurm end to end: launch through the real SSH server to the real Slurm of the testbed.

Every test builds the probe package, launches with `xm_cluster.Slurm`, waits
through the shared watcher (sacct) and checks what the tasks themselves
recorded on the cluster. The testbed being down makes these tests fail.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.base import SchedulerError
from lxm3.xm.status import TaskState, TaskStatus
from tests.hostile import HOSTILE_VALUES, SLURM_VALUES

from .conftest import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]

HOSTILE = [*HOSTILE_VALUES, *SLURM_VALUES]


def package(experiment: Any, spec: Any) -> Any:
    [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Slurm.Spec())])
    return executable


def only_job(work_unit: Any) -> Any:
    [job] = work_unit.jobs
    return job


@pytest.mark.timeout(120)
def test_single_job(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-single") as experiment:
        executable = package(experiment, probe_package)
        work_unit = experiment.add(
            xm.Job(executable, xm_cluster.Slurm(), args={"lr": 0.5, "name": "one"})
        ).result()
        work_unit.wait_until_complete()
        status = work_unit.get_status()
    assert status.is_completed, status.message
    job = only_job(work_unit)
    [submitted] = job.submitted
    assert submitted.job_id.isdigit()
    script = slurm_cluster.read_file(submitted.script_path)
    assert "--array" not in script
    records = slurm_cluster.read_records(job.log_dir)
    assert records[0]["argv"] == ["--lr=0.5", "--name=one"]
    assert records[0]["task"] == 0


@pytest.mark.timeout(120)
def test_hostile_args_and_env_arrive_byte_for_byte(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    env = {f"PROBE_V{i}": value for i, value in enumerate(HOSTILE)}
    keyword_args = {f"k{i}": value for i, value in enumerate(HOSTILE)}
    with xm_cluster.create_experiment("e2e-hostile 'quotes' \"and\" $(spaces)") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.Slurm(),
            name="hostile $(job) 'name'",
            args=[list(HOSTILE), keyword_args],
            env_vars=[env, {"PROBE_ONLY": " \t\n'\"$`\\"}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    records = slurm_cluster.read_records(only_job(work_unit).log_dir)
    assert records[0]["argv"] == HOSTILE
    assert records[0]["env"] == env
    assert records[1]["argv"] == [f"--k{i}={value}" for i, value in enumerate(HOSTILE)]
    assert records[1]["env"] == {"PROBE_ONLY": " \t\n'\"$`\\"}


@pytest.mark.timeout(120)
def test_max_parallel_throttle_holds(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-throttle") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.Slurm(max_parallel=2),
            args=[{"i": i} for i in range(6)],
            env_vars=[{"PROBE_SLEEP": "2"}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    launched = only_job(work_unit)
    [submitted] = launched.submitted
    assert "#SBATCH --array=0-5%2\n" in slurm_cluster.read_file(submitted.script_path)
    records = slurm_cluster.read_records(launched.log_dir)
    assert sorted(records) == list(range(6))
    events = sorted([(r["start"], 1) for r in records.values()] + [(r["end"], -1) for r in records.values()])
    running, most = 0, 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    assert most == 2, f"at most 2 tasks should run at once (and 2 did), saw {most}"


@pytest.mark.timeout(120)
def test_failing_task_is_reported_with_exit_code_and_log(
    slurm_cluster: SlurmCluster, probe_package: Any
) -> None:
    with xm_cluster.create_experiment("e2e-failure") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.Slurm(),
            args=[{"i": i} for i in range(3)],
            env_vars=[{"PROBE_EXIT": "0"}, {"PROBE_EXIT": "3"}, {"PROBE_EXIT": "0"}],
        )
        work_unit = experiment.add(job).result()
        with pytest.raises(xm.ExperimentUnitFailedError) as caught:
            work_unit.wait_until_complete()
    launched = only_job(work_unit)
    message = str(caught.value)
    assert "1 task(s) failed" in message
    assert "task 1 exit code 3" in message
    assert f"{launched.log_dir}/1.err" in message
    [failure] = caught.value.failures
    assert isinstance(failure, TaskStatus)
    assert (failure.index, failure.state, failure.exit_code) == (1, TaskState.FAILED, 3)
    assert slurm_cluster.read_file(f"{launched.log_dir}/1.exit").strip() == "3"
    counts = work_unit.get_status().counts()
    assert counts == {"COMPLETED": 2, "FAILED": 1}


@pytest.mark.timeout(120)
def test_stop_cancels_running_and_pending_tasks(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment("e2e-cancel") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.Slurm(max_parallel=1),
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
    assert "RUNNING" not in slurm_cluster.squeue([submitted.job_id])
    assert elapsed < 30


@pytest.mark.timeout(240)
def test_sweep_larger_than_max_array_size_is_split(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    """MaxArraySize=101 on the testbed: 250 tasks become arrays of 101, 101 and 48."""
    with xm_cluster.create_experiment("e2e-split") as experiment:
        executable = package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=xm_cluster.Slurm(),
            args=[{"i": i, "sq": i * i} for i in range(250)],
        )
        started = time.monotonic()
        work_unit = experiment.add(job).result()
        launch_seconds = time.monotonic() - started
        work_unit.wait_until_complete()
    launched = only_job(work_unit)
    assert [(s.chunk.offset, s.chunk.count) for s in launched.submitted] == [(0, 101), (101, 101), (202, 48)]
    assert len({s.job_id for s in launched.submitted}) == 3
    scripts = [slurm_cluster.read_file(s.script_path) for s in launched.submitted]
    arrays = [re.findall(r"#SBATCH --array=(\S+)", script) for script in scripts]
    assert arrays == [["0-100"], ["0-100"], ["0-47"]]
    records = slurm_cluster.read_records(launched.log_dir)
    assert sorted(records) == list(range(250))
    for task, record in records.items():
        assert record["task"] == task
        assert record["argv"] == [f"--i={task}", f"--sq={task * task}"]
    print(
        f"250-task launch (package excluded): {launch_seconds:.2f} s; watcher queries: {launched.target.watcher.queries}"
    )


@pytest.mark.timeout(120)
def test_relaunch_sends_no_artifact_bytes(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    sent = []
    for attempt in range(2):
        with xm_cluster.create_experiment(f"e2e-relaunch-{attempt}") as experiment:
            executable = package(experiment, probe_package)
            work_unit = experiment.add(
                xm.Job(executable, xm_cluster.Slurm(), args={"attempt": attempt})
            ).result()
            work_unit.wait_until_complete()
            assert isinstance(experiment, xm_cluster.ClusterExperiment)
            sent.append(experiment.bytes_sent)
    # The package holds 256 KiB of random bytes: the first launch must send them, the second not.
    assert sent[0] > 256 * 1024, sent
    assert sent[1] < 32 * 1024, sent


@pytest.mark.timeout(120)
def test_rejected_submission_gives_sbatch_reason(slurm_cluster: SlurmCluster, probe_package: Any) -> None:
    # The refusal surfaces from the unit's launch, and again when the experiment closes.
    with pytest.raises(SchedulerError) as caught, xm_cluster.create_experiment("e2e-rejected") as experiment:
        executable = package(experiment, probe_package)
        experiment.add(xm.Job(executable, xm_cluster.Slurm(partition="no-such-partition"))).result()
    message = str(caught.value)
    assert "invalid partition specified: no-such-partition" in message
    assert "Invalid partition name specified" in message
    assert "testcluster" in message
