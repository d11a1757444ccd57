"""A sweep over the user's job limits is packed automatically, on real Slurm and Grid Engine.

The testbed's dedicated user `hpclimited` (tests/testbed/limits-up.sh; ssh
alias `testcluster-limited`) has MaxSubmitJobs=40 on Slurm, which lxm3 reads
with sacctmgr. Grid Engine's per-user cap is global configuration (it would
limit every user of the shared testbed), so that case declares its cap in
lxm3's config (`max_jobs = 1`: one array of at most max_aj_tasks=101 tasks).
Every task's own result comes back: its state, exit code and output.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from tests.clusters import on_testbed
from tests.e2e.conftest import _READ_LOGS, SSH_CONFIG, SlurmCluster, ssh

pytestmark = [pytest.mark.ssh]

LIMITED_ALIAS = "testcluster-limited"
LIMITED_USER = "hpclimited"


@pytest.fixture(params=on_testbed("slurm", "sge"))
def limited_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, SlurmCluster]:
    """A config whose cluster is reached as the limited user, with its own staging dir."""
    probe = ssh(f"ssh -V 2>/dev/null; getent passwd {LIMITED_USER} >/dev/null && echo ok", check=False)
    if "ok" not in probe.stdout:
        pytest.fail(f"no user {LIMITED_USER} on the testbed; run: bash tests/testbed/up.sh")
    kind = request.param
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    staging = f"/home/{LIMITED_USER}/lxm3-e2e-{name}-{tmp_path.name}"
    lines = [
        "[local.storage]",
        f"staging = {json.dumps(str(tmp_path / 'local-staging'))}",
        "[[clusters]]",
        'name = "limited"',
        f"server = {json.dumps(LIMITED_ALIAS)}",
        f"ssh_config = {json.dumps(SSH_CONFIG)}",
        *(["max_jobs = 1"] if kind == "sge" else []),
        "[clusters.storage]",
        f"staging = {json.dumps(staging)}",
        "",
    ]
    config = tmp_path / "lxm.toml"
    config.write_text("\n".join(lines))
    monkeypatch.setenv("LXM_CONFIG", str(config))
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "1")
    return kind, SlurmCluster(config, staging)


def limited_ssh(command: str) -> str:
    import subprocess

    return subprocess.run(
        ["ssh", "-F", SSH_CONFIG, LIMITED_ALIAS, "--", command], capture_output=True, text=True, timeout=120
    ).stdout


def read_records(log_dir: str) -> dict[int, dict[str, Any]]:
    """The probe's JSON line of each task (`<task>.out`), read as the limited user."""
    logs = json.loads(limited_ssh(shlex.join(["python3", "-c", _READ_LOGS, log_dir, "out"])))
    return {int(name.split(".")[0]): json.loads(text.strip().splitlines()[-1]) for name, text in logs.items()}


@pytest.mark.timeout(600)
def test_a_sweep_over_the_limit_is_packed_and_every_task_reports_its_own_result(
    limited_cluster: tuple[str, SlurmCluster], probe_package: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kind, cluster = limited_cluster
    # Slurm: 60 array tasks > MaxSubmitJobs 40. Grid Engine: 110 tasks > one array of 101.
    count = 60 if kind == "slurm" else 110
    failing = {7, 8, count - 1}
    executor: Any = xm_cluster.Slurm() if kind == "slurm" else xm_cluster.GridEngine()
    spec = xm_cluster.Slurm.Spec() if kind == "slurm" else xm_cluster.GridEngine.Spec()
    args = [{"seed": task, "name": f"t {task}"} for task in range(count)]
    env = [{"PROBE_EXIT": "5" if task in failing else "0"} for task in range(count)]
    caplog.set_level(logging.WARNING, logger="lxm3")
    try:
        with xm_cluster.create_experiment(f"e2e-packing-{kind}") as experiment:
            [executable] = experiment.package([xm.Packageable(probe_package, executor_spec=spec)])
            work_unit = experiment.add(
                xm_cluster.ArrayJob(executable, executor, args=args, env_vars=env)
            ).result()
            [job] = work_unit.jobs
            with pytest.raises(xm.ExperimentUnitFailedError) as failure:
                work_unit.wait_until_complete()
            status = work_unit.get_status()
        notices = [r.getMessage() for r in caplog.records if "packing" in r.getMessage()]
        assert len(notices) == 1, "one line says the sweep was packed, and why"
        assert "MaxSubmitJobs" in notices[0] if kind == "slurm" else "max_u_jobs" in notices[0]
        packs = {s.chunk.pack for s in job.submitted}
        assert packs == {2}, packs
        array_tasks = sum(s.chunk.array_size for s in job.submitted)
        assert array_tasks <= (40 if kind == "slurm" else 101)

        by_task = {task.index: task for task in status.tasks}
        assert sorted(by_task) == list(range(count))
        for task, task_status in by_task.items():
            expected = "FAILED" if task in failing else "COMPLETED"
            assert (task_status.state.value, task_status.exit_code) == (expected, 5 if task in failing else 0)
        assert "3 task(s) failed" in str(failure.value)
        records = read_records(job.log_dir)
        assert sorted(records) == list(range(count)), "every task wrote its own log"
        for task, record in records.items():
            assert record["task"] == task
            assert record["argv"] == [f"--seed={task}", f"--name=t {task}"]

        # Reloaded, as `lxm3 status` sees it, and `rerun --failed` resubmits exactly the failed tasks.
        reloaded = xm_cluster.get_experiment(experiment.experiment_id)
        [(_, states)] = reloaded.task_statuses()[work_unit.work_unit_id]
        assert {t for t, s in states.items() if s.state.value == "FAILED"} == failing
        report = reloaded.rerun_failed()
        assert report.num_tasks == len(failing)
        [(_, rerun_tasks, _)] = [(u, t, i) for u, _, t, i in report.jobs]
        assert sorted(rerun_tasks) == sorted(failing)
        unit = reloaded.work_units[work_unit.work_unit_id]
        with pytest.raises(xm.ExperimentUnitFailedError):
            unit.wait_until_complete()
        [(_, after)] = reloaded.task_statuses()[work_unit.work_unit_id]
        assert {t for t, s in after.items() if s.state.value == "FAILED"} == failing
        assert sum(1 for s in after.values() if s.state.value == "COMPLETED") == count - len(failing)
    finally:
        limited_ssh(f"rm -rf {cluster.staging}")
