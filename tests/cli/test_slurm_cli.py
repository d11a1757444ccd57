"""The lifecycle commands against the real Slurm of the testbed, through ssh, from fresh processes.

A sweep with a failing task is launched with `lxm3 launch` (which returns
once the jobs are submitted); status, logs, cancel and rerun then run as new
processes that know the experiment only from the store. The testbed being
down fails these tests (see tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from lxm3 import xm_cluster
from lxm3.schedulers.slurm import SlurmScheduler
from lxm3.store.db import ExperimentStore
from tests.e2e.conftest import SlurmCluster, ssh

from .conftest import all_final, launched_id, lxm3_argv, run_lxm3, status_json, task_states, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.ssh, pytest.mark.timeout(300)]


def control_dir(cluster: SlurmCluster, *files: str, sleep: int | None = None) -> str:
    """A control dir on the cluster with the given marker files."""
    path = f"{cluster.staging}-control"
    script = f"rm -rf {shlex.quote(path)} && mkdir -p {shlex.quote(path)}"
    for name in files:
        script += f" && touch {shlex.quote(path + '/' + name)}"
    if sleep is not None:
        script += f" && echo {sleep} > {shlex.quote(path + '/sleep')}"
    ssh(script)
    return path


def launch(project: Path, control: str, *flags: str) -> int:
    result = run_lxm3(
        "launch", str(project / "launch.py"), "--executor=slurm", f"--control={control}", *flags
    )
    return launched_id(result)


def test_failed_task_status_logs_and_rerun(flaky_project: Path, slurm_cluster: SlurmCluster) -> None:
    control = control_dir(slurm_cluster, "fail-0")
    experiment_id = launch(flaky_project, control, "--units=2", "--tasks=3")

    document = wait_for(experiment_id, all_final, timeout=120)
    assert document["experiment_id"] == experiment_id
    for unit in document["work_units"]:
        assert set(unit) == {"work_unit_id", "state", "tasks"}
        assert unit["state"] == "FAILED"
        assert unit["tasks"] == [
            {"index": 0, "state": "FAILED", "exit_code": 3},
            {"index": 1, "state": "COMPLETED", "exit_code": 0},
            {"index": 2, "state": "COMPLETED", "exit_code": 0},
        ]
    assert [unit["work_unit_id"] for unit in document["work_units"]] == [1, 2]

    failed_log = run_lxm3("logs", str(experiment_id), "--wu", "1", "--task", "0", "--stderr").stdout
    assert failed_log == "stderr of task 0\nfailing on purpose\n"
    assert (
        run_lxm3("logs", str(experiment_id), "--wu", "2", "--task", "1").stdout
        == "task 1 seed 1 started\ntask 1 done\n"
    )
    table = run_lxm3("status", str(experiment_id)).stdout
    assert "testcluster (slurm)" in table and "FAILED" in table
    listed = {e["experiment_id"]: e for e in json.loads(run_lxm3("list", "--json").stdout)}
    assert listed[experiment_id]["tasks"] == {"COMPLETED": 4, "FAILED": 2}
    assert listed[experiment_id]["targets"] == ["testcluster"]

    ssh(f"rm -f {shlex.quote(control + '/fail-0')}")
    rerun = run_lxm3("rerun", str(experiment_id), "--failed", "--wait", timeout=180)
    assert "attempt 2 reruns 2 task(s)" in rerun.stdout, rerun.stdout
    after = task_states(status_json(experiment_id))
    assert after == {unit: {0: ("COMPLETED", 0), 1: ("COMPLETED", 0), 2: ("COMPLETED", 0)} for unit in (1, 2)}
    assert (
        run_lxm3("logs", str(experiment_id), "--wu", "1", "--task", "0").stdout
        == "task 0 seed 0 started\ntask 0 done\n"
    )

    store = ExperimentStore()
    rows = store.jobs(experiment_id)
    reruns = [row for row in rows if row["attempt"] == 2]
    assert [row["task_ids"] for row in reruns] == [[0], [0]]
    [chunk] = reruns[0]["submitted"]
    assert chunk["count"] == 1 and chunk["task_ids"] == [0] and chunk["index_map"].endswith("/index-a2-0.txt")
    job_dir = reruns[0]["remote_dir"]
    assert slurm_cluster.read_file(chunk["index_map"]) == "0\n"
    old = slurm_cluster.read_file(f"{job_dir}/logs/attempt-1/0.err")
    assert old == "stderr of task 0\nfailing on purpose\n"
    assert rows[0]["remote_dir"].startswith(slurm_cluster.staging + "/experiments/")


def test_cancel_one_unit_then_all_then_rerun(
    flaky_project: Path, slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    control = control_dir(slurm_cluster, sleep=120)
    experiment_id = launch(flaky_project, control, "--units=2", "--tasks=2")
    wait_for(experiment_id, lambda d: all("RUNNING" in json.dumps(u) for u in d["work_units"]), timeout=60)

    # Status of both units (two Slurm jobs) costs ONE scheduler query.
    queries: list[list[str]] = []
    original = SlurmScheduler.query

    def counting(self: SlurmScheduler, transport: object, jobs: list) -> dict:
        queries.append([job.job_id for job in jobs])
        return original(self, transport, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(SlurmScheduler, "query", counting)
    results = xm_cluster.get_experiment(experiment_id).task_statuses()
    assert len(queries) == 1 and len(queries[0]) == 2
    assert sorted(results) == [1, 2]
    monkeypatch.setattr(SlurmScheduler, "query", original)

    cancelled = run_lxm3("cancel", str(experiment_id), "--wu", "1")
    assert "cancelled 2 unfinished task(s) of work unit 1" in cancelled.stdout
    document = wait_for(experiment_id, lambda d: d["work_units"][0]["state"] == "CANCELLED", timeout=60)
    assert document["work_units"][1]["state"] in ("RUNNING", "PENDING")

    run_lxm3("cancel", str(experiment_id))
    document = wait_for(experiment_id, all_final, timeout=60)
    assert {state for unit in task_states(document).values() for state, _ in unit.values()} == {"CANCELLED"}
    job_ids = sorted({row["submitted"][0]["job_id"] for row in ExperimentStore().jobs(experiment_id)})
    queue = slurm_cluster.squeue(job_ids)
    assert "RUNNING" not in queue and "PENDING" not in queue, queue
    assert "nothing to cancel" in run_lxm3("cancel", str(experiment_id)).stdout

    ssh(f"rm -f {shlex.quote(control + '/sleep')}")
    rerun = run_lxm3("rerun", str(experiment_id), "--failed", "--wait", timeout=180)
    assert "attempt 2 reruns 4 task(s)" in rerun.stdout
    final = task_states(status_json(experiment_id))
    assert final == {unit: {0: ("COMPLETED", 0), 1: ("COMPLETED", 0)} for unit in (1, 2)}


def test_two_launches_at_once_get_distinct_ids(flaky_project: Path, slurm_cluster: SlurmCluster) -> None:
    control = control_dir(slurm_cluster)
    launches = [
        subprocess.Popen(
            lxm3_argv(
                "launch",
                str(flaky_project / "launch.py"),
                "--executor=slurm",
                f"--control={control}",
                "--tasks=2",
                f"--title=twin-{n}",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in launches]
    assert [process.returncode for process in launches] == [0, 0], outputs
    ids = [int(out.split()[1]) for out, _ in outputs]
    assert len(set(ids)) == 2
    for experiment_id in ids:
        document = wait_for(experiment_id, all_final, timeout=120)
        assert document["work_units"][0]["state"] == "COMPLETED"
    titles = {e["experiment_id"]: e["title"] for e in json.loads(run_lxm3("list", "--json").stdout)}
    assert {titles[i] for i in ids} == {"twin-0", "twin-1"}


def test_status_fails_when_the_cluster_cannot_be_reached(
    flaky_project: Path, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    control = control_dir(slurm_cluster, sleep=30)
    experiment_id = launch(flaky_project, control, "--tasks=1")
    # The config now points the cluster at a host that does not exist.
    text = slurm_cluster.config_path.read_text().replace(
        'server = "testcluster"', 'server = "no-such-host.invalid"'
    )
    slurm_cluster.config_path.write_text(text)
    try:
        result = run_lxm3("status", str(experiment_id), check=1)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("lxm3: error:") and "no-such-host.invalid" in line
        assert run_lxm3("list", check=1).stderr.startswith("lxm3: error: cannot ask testcluster")
    finally:
        slurm_cluster.config_path.write_text(
            text.replace('server = "no-such-host.invalid"', 'server = "testcluster"')
        )
        run_lxm3("cancel", str(experiment_id))
