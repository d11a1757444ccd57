"""Preemption and requeue on the real Slurm: each attempt is reported, the program is warned.

`Slurm(requeue=True, warning_signal="USR1@60")` renders `--requeue` and
`--signal=B:USR1@60`. The test requeues a running task with `scontrol
requeue` (what a preemption or node failure does), sees `lxm3 status` report
the second attempt, and sends the warning signal to the batch shell (`scancel
--signal=USR1 --batch`, as Slurm does before the walltime): the runner passes
it to the program, which checkpoints and ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm.status import TaskState

from .conftest import ssh

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]

PROGRAM = """\
import os, signal, sys, time
attempt = int(os.environ.get("SLURM_RESTART_COUNT", "0")) + 1
print(f"attempt {attempt} started", flush=True)
def checkpoint(signum, frame):
    print(f"attempt {attempt}: warned by signal {signum}, checkpointing", flush=True)
    sys.exit(0)
signal.signal(signal.SIGUSR1, checkpoint)
for _ in range(600):
    time.sleep(0.5)
"""


def statuses_of(experiment_id: int) -> dict[int, Any]:
    [(_, statuses)] = xm_cluster.get_experiment(experiment_id).task_statuses()[1]
    return statuses


def wait_until(experiment_id: int, predicate: Any, timeout: float = 180) -> dict[int, Any]:
    deadline = time.monotonic() + timeout
    statuses = statuses_of(experiment_id)
    while not predicate(statuses[0]):
        assert time.monotonic() < deadline, statuses
        time.sleep(1)
        statuses = statuses_of(experiment_id)
    return statuses


def test_requeue_is_reported_and_the_warning_signal_reaches_the_program(
    slurm_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "program.py").write_text(PROGRAM)
    (package / "build.sh").write_text('#!/bin/sh\ncp program.py "$BUILDDIR/"\n')
    (package / "build.sh").chmod(0o755)
    spec = xm_cluster.UniversalPackage(
        path=str(package), entrypoint=["python3", "program.py"], build_script="build.sh"
    )
    executor = xm_cluster.Slurm(requeue=True, warning_signal="USR1@60", walltime=3600)
    with xm_cluster.create_experiment("requeue") as experiment:
        [executable] = experiment.package([xm.Packageable(spec, executor_spec=xm_cluster.Slurm.Spec())])
        unit = experiment.add(xm.Job(executable, executor)).result()
    [job] = unit.jobs
    job_id = job.submitted[0].job_id
    script = slurm_cluster.read_file(job.submitted[0].script_path)
    assert "#SBATCH --requeue" in script and "#SBATCH --signal=B:USR1@60" in script

    wait_until(experiment.experiment_id, lambda s: s.state is TaskState.RUNNING)
    time.sleep(2)  # the program is started by the runner
    ssh(f"scontrol requeue {job_id}")
    # The second attempt is reported (pending again with REQUEUED, then running as attempt 2).
    statuses = wait_until(
        experiment.experiment_id,
        lambda s: s.state is TaskState.RUNNING and "attempt 2" in s.message,
        timeout=300,
    )
    assert not statuses[0].state.is_terminal
    time.sleep(2)
    ssh(f"scancel --signal=USR1 --batch {job_id}")
    statuses = wait_until(experiment.experiment_id, lambda s: s.state.is_terminal, timeout=120)
    assert statuses[0].state is TaskState.COMPLETED, statuses
    log = slurm_cluster.read_logs(job.log_dir)[0]
    assert "attempt 1 started" in log and "attempt 2 started" in log, log
    assert "attempt 2: warned by signal 10, checkpointing" in log, log
