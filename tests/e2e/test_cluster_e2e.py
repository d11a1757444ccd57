"""Slurm and Grid Engine end to end: the same launches through the real SSH server to both.

Every test runs once per scheduler (`cluster` is parametrized; `-m slurm` / `-m sge`
select one): it builds the probe package, launches, waits through the shared
watcher (sacct; qstat, then qacct and end-of-task lines) and checks what the tasks
themselves recorded on the cluster. Both clusters export the hostile `CLUSTER_ENV`
through the config. What only one scheduler does (a refused partition, Grid Engine's
exit code 100 and query counts) is checked here for that one, or in its own module.
The testbed being down makes these tests fail.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Any, cast

import attrs
import pytest

from lxm3 import xm, xm_cluster
from lxm3.schedulers.sge import GridEngineScheduler
from lxm3.transport.ssh import SSHTransport
from lxm3.xm.status import TaskState, TaskStatus
from lxm3.xm_cluster import deploying, launching
from tests.clusters import KIND_PARAMS_ON_TESTBED, Kind
from tests.e2e.conftest import (
    CLUSTER_ENV,
    SlurmCluster,
    SlurmTestbed,
    probe_dir,
    remote_root,
    slurm_testbed,
    ssh,
    staging_name,
    write_cluster_config,
)
from tests.e2e.conftest_sge import GridEngineCluster, sge_remote_root, sge_testbed
from tests.hostile import HOSTILE_VALUES

__all__ = ["probe_dir", "remote_root", "sge_remote_root", "sge_testbed", "slurm_testbed"]  # fixtures


@attrs.define
class OnCluster:
    """One test's cluster: which scheduler, its config and staging dir, and readers of its state."""

    kind: Kind
    files: SlurmCluster

    @property
    def name(self) -> str:
        return self.kind.name

    def executor(self, max_parallel: int | None = None, **kwargs: Any) -> Any:
        return self.kind.executor(max_parallel, **kwargs)

    def package(self, experiment: Any, spec: Any) -> Any:
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=self.kind.spec)])
        return executable

    def active(self, job_id: str) -> bool:
        """Whether the scheduler still runs (or would run) any task of the job."""
        if isinstance(self.files, GridEngineCluster):
            return job_id in self.files.qstat_jobs()
        queue = self.files.squeue([job_id])
        return "RUNNING" in queue or "PENDING" in queue

    def array_directives(self, script: str) -> list[str]:
        """The array ranges a job script asks for (none for a single job)."""
        pattern = r"#SBATCH --array=(\S+)" if self.name == "slurm" else r"#\$ -t (\S+)"
        return re.findall(pattern, script)


@pytest.fixture(params=KIND_PARAMS_ON_TESTBED)
def cluster(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OnCluster:
    """The testbed's Slurm or Grid Engine as the only cluster, with this test's own staging dir."""
    kind: Kind = request.param
    if kind.name == "slurm":
        testbed: SlurmTestbed = request.getfixturevalue("slurm_testbed")
        root: str = request.getfixturevalue("remote_root")
    else:
        testbed = request.getfixturevalue("sge_testbed")
        root = request.getfixturevalue("sge_remote_root")
    staging = f"{root}/{staging_name(request)}"
    config = write_cluster_config(tmp_path, testbed, staging, CLUSTER_ENV)
    monkeypatch.setenv("LXM_CONFIG", str(config))
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.5")
    files = SlurmCluster(config, staging) if kind.name == "slurm" else GridEngineCluster(config, staging)
    return OnCluster(kind, files)


def only_job(work_unit: Any) -> Any:
    [job] = work_unit.jobs
    return job


@pytest.mark.timeout(120)
def test_single_job(cluster: OnCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment(f"e2e-{cluster.name}-single") as experiment:
        executable = cluster.package(experiment, probe_package)
        work_unit = experiment.add(
            xm.Job(executable, cluster.executor(), args={"lr": 0.5, "name": "one"})
        ).result()
        work_unit.wait_until_complete()
        status = work_unit.get_status()
        transport = only_job(work_unit).target.transport()
        # Opened by this launch, or a persistent master of an earlier one reused (ssh_persist).
        connections = transport.connections + transport.reused
    assert connections == 1, "one launch (deploy, submit, every poll), one SSH connection"
    assert status.is_completed, status.message
    job = only_job(work_unit)
    [submitted] = job.submitted
    assert submitted.job_id.isdigit()
    script = cluster.files.read_file(submitted.script_path)
    assert cluster.array_directives(script) == []
    assert {"slurm": "--array", "sge": "#$ -t"}[cluster.name] not in script  # nor -tc
    if cluster.name == "sge":
        assert "#$ -N lxm3_" in script
    records = cluster.files.read_records(job.log_dir)
    assert records[0]["argv"] == ["--lr=0.5", "--name=one"]
    assert records[0]["task"] == 0
    assert records[0]["env"] == CLUSTER_ENV


@pytest.mark.timeout(120)
def test_hostile_args_and_env_arrive_byte_for_byte(cluster: OnCluster, probe_package: Any) -> None:
    hostile = [*HOSTILE_VALUES, *cluster.kind.hostile_extra]
    env = {f"PROBE_V{i}": value for i, value in enumerate(hostile)}
    keyword_args = {f"k{i}": value for i, value in enumerate(hostile)}
    only = " \t\n'\"$`\\"
    title = f"e2e-{cluster.name}-hostile 'quotes' \"and\" $(spaces) #$ -q x"
    with xm_cluster.create_experiment(title) as experiment:
        executable = cluster.package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=cluster.executor(),
            name="hostile $(job) 'name'\n#$ -q evil",
            args=[list(hostile), keyword_args],
            env_vars=[env, {"PROBE_ONLY": only}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    records = cluster.files.read_records(only_job(work_unit).log_dir)
    assert records[0]["argv"] == hostile
    assert records[0]["env"] == {**env, **CLUSTER_ENV}
    assert records[1]["argv"] == [f"--k{i}={value}" for i, value in enumerate(hostile)]
    assert records[1]["env"] == {"PROBE_ONLY": only, **CLUSTER_ENV}


@pytest.mark.timeout(120)
def test_max_parallel_throttle_holds(cluster: OnCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment(f"e2e-{cluster.name}-throttle") as experiment:
        executable = cluster.package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=cluster.executor(max_parallel=2),
            args=[{"i": i} for i in range(6)],
            env_vars=[{"PROBE_SLEEP": "2"}],
        )
        work_unit = experiment.add(job).result()
        work_unit.wait_until_complete()
    launched = only_job(work_unit)
    [submitted] = launched.submitted
    throttle = {"slurm": "#SBATCH --array=0-5%2\n", "sge": "#$ -t 1-6\n#$ -tc 2\n"}[cluster.name]
    assert throttle in cluster.files.read_file(submitted.script_path)
    records = cluster.files.read_records(launched.log_dir)
    assert sorted(records) == list(range(6))
    assert [records[i]["argv"] for i in range(6)] == [[f"--i={i}"] for i in range(6)]
    events = sorted([(r["start"], 1) for r in records.values()] + [(r["end"], -1) for r in records.values()])
    running, most = 0, 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    assert most == 2, f"at most 2 tasks should run at once (and 2 did), saw {most}"


@pytest.mark.timeout(120)
def test_failing_task_is_reported_with_exit_code_and_log(cluster: OnCluster, probe_package: Any) -> None:
    """Exit 3 fails its task; exit 100 (Grid Engine's "error state") too, with its own code and no Eqw."""
    with xm_cluster.create_experiment(f"e2e-{cluster.name}-failure") as experiment:
        executable = cluster.package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=cluster.executor(),
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
    assert all(isinstance(failure, TaskStatus) for failure in failures)
    assert [(f.index, f.state, f.exit_code) for f in failures] == [
        (1, TaskState.FAILED, 3),
        (3, TaskState.FAILED, 100),
    ]
    assert cluster.files.read_file(f"{launched.log_dir}/1.exit").strip() == "3"
    assert work_unit.get_status().counts() == {"COMPLETED": 2, "FAILED": 2}
    if cluster.name == "sge":
        [submitted] = launched.submitted
        assert not cluster.active(submitted.job_id), "nothing may be left in Eqw"


@pytest.mark.timeout(120)
def test_stop_cancels_running_and_pending_tasks(cluster: OnCluster, probe_package: Any) -> None:
    with xm_cluster.create_experiment(f"e2e-{cluster.name}-cancel") as experiment:
        executable = cluster.package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=cluster.executor(max_parallel=1),
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
    assert not cluster.active(submitted.job_id)
    assert elapsed < 30


@pytest.mark.timeout(240)
def test_sweep_larger_than_the_array_limit_is_split(cluster: OnCluster, probe_package: Any) -> None:
    """MaxArraySize=101 (Slurm) and max_aj_tasks=101 (SGE): 205 tasks become arrays of 101, 101 and 3."""
    with xm_cluster.create_experiment(f"e2e-{cluster.name}-split") as experiment:
        executable = cluster.package(experiment, probe_package)
        job = xm_cluster.ArrayJob(
            executable=executable,
            executor=cluster.executor(),
            args=[{"i": i, "sq": i * i} for i in range(205)],
        )
        started = time.monotonic()
        work_unit = experiment.add(job).result()
        launch_seconds = time.monotonic() - started
        work_unit.wait_until_complete()
        total_seconds = time.monotonic() - started
    launched = only_job(work_unit)
    assert [(s.chunk.offset, s.chunk.count) for s in launched.submitted] == [(0, 101), (101, 101), (202, 3)]
    assert len({s.job_id for s in launched.submitted}) == 3
    scripts = [cluster.files.read_file(s.script_path) for s in launched.submitted]
    first = cluster.kind.first_array_index
    assert [cluster.array_directives(script) for script in scripts] == [
        [f"{first}-{first + count - 1}"] for count in (101, 101, 3)
    ]
    records = cluster.files.read_records(launched.log_dir)
    assert sorted(records) == list(range(205))
    for task, record in records.items():
        assert record["task"] == task
        assert record["argv"] == [f"--i={task}", f"--sq={task * task}"]
    watcher = launched.target.watcher
    print(
        f"\n{cluster.name} 205-task sweep: launch {launch_seconds:.2f} s (package excluded), "
        f"done after {total_seconds:.1f} s; {watcher.queries} watcher queries"
    )
    scheduler = launched.target.scheduler
    if isinstance(scheduler, GridEngineScheduler):
        print(
            f"{scheduler.qstat_calls} qstat, {scheduler.lookup_calls} lookups, {scheduler.qacct_calls} qacct"
        )
        assert scheduler.qstat_calls == watcher.queries - watcher.errors
        assert scheduler.qacct_calls <= scheduler.lookup_calls <= scheduler.qstat_calls


class Recorder:
    """Counts the remote commands and rsync uploads of a launch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[str] = []
        self.uploads: list[list[str]] = []
        run, upload = SSHTransport.run, SSHTransport.upload

        def counting_run(transport: SSHTransport, argv: Any, **kwargs: Any) -> Any:
            self.commands.append(" ".join(argv))
            return run(transport, argv, **kwargs)

        def counting_upload(transport: SSHTransport, local_dir: Any, remote_dir: str, **kwargs: Any) -> int:
            self.uploads.append(list(kwargs.get("files") or []))
            return upload(transport, local_dir, remote_dir, **kwargs)

        monkeypatch.setattr(SSHTransport, "run", counting_run)
        monkeypatch.setattr(SSHTransport, "upload", counting_upload)

    def clear(self) -> None:
        self.commands.clear()
        self.uploads.clear()


@pytest.mark.timeout(240)
def test_relaunch_sends_no_artifact_bytes_and_recovers_from_a_cleaned_cluster(
    cluster: OnCluster, probe_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relaunch of unchanged code is ONE remote command (deploy and submit together).

    The first launch learns (and records locally) which content-addressed files the cluster
    has; the next sends its small job files inside the submit command instead of a check and
    an rsync. If a file believed present was removed on the cluster, the launch notices,
    sends it again and still runs correctly (docs/reliability.md).
    """
    missing: list[list[str]] = []
    prepare = launching.prepare_remote

    def spy(*args: Any, **kwargs: Any) -> list[str]:
        result = prepare(*args, **kwargs)
        missing.append(list(result))
        return result

    monkeypatch.setattr(deploying, "prepare_remote", spy)
    submit = {"slurm": "sbatch", "sge": "qsub"}[cluster.name]

    def sweep(seeds: list[int]) -> tuple[Any, Any, int]:
        with xm_cluster.create_experiment(f"e2e-{cluster.name}-relaunch") as experiment:
            executable = cluster.package(experiment, probe_package)
            array = xm_cluster.ArrayJob(executable, cluster.executor(), args=[{"seed": s} for s in seeds])
            work_unit = experiment.add(array).result()
            work_unit.wait_until_complete()
        records = cluster.files.read_records(only_job(work_unit).log_dir)
        assert [records[task]["argv"] for task in sorted(records)] == [[f"--seed={s}"] for s in seeds]
        return executable, work_unit, cast(xm_cluster.ClusterExperiment, experiment).bytes_sent

    executable, _, first_sent = sweep([1, 2])  # learns what the cluster has
    assert any(name.startswith("artifacts/") for name in missing[0])
    # The package holds 256 KiB of random bytes: the first launch must send them, the second not.
    assert first_sent > executable.artifact.size > 256 * 1024

    recorder = Recorder(monkeypatch)
    checks_before = len(missing)
    _, _, sent = sweep([3, 4, 5])
    submits = [command for command in recorder.commands if submit in command]
    assert len(submits) == 1 and "base64 -d | tar -xzf -" in submits[0]
    assert recorder.uploads == []  # no rsync at all
    # It skipped the check, or checked and found everything content-addressed in place.
    assert all(names == [] for names in missing[checks_before:])
    assert sent < 32 * 1024, f"relaunch sent {sent} bytes"

    # Someone cleans the artifacts on the cluster: the next launch sends them again.
    ssh(f"rm -rf {shlex.quote(cluster.files.staging)}/artifacts")
    recorder.clear()
    sweep([6])
    assert any(name.startswith("artifacts/") for files in recorder.uploads for name in files)
