"""`lxm3 cancel` of a running Slurm sweep: every task ends CANCELLED in `lxm3 status`.

Before, the runner's completion file (exit 143 after SIGTERM) was sometimes
read before the accounting said CANCELLED, and the tasks showed FAILED 143.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.xm.status import TaskState

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


@pytest.mark.parametrize("round_", [1, 2])
def test_cancel_shows_cancelled(
    slurm_cluster: Any, probe_package: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, round_: int
) -> None:
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    with xm_cluster.create_experiment("cancel") as experiment:
        [executable] = experiment.package(
            [xm.Packageable(probe_package, executor_spec=xm_cluster.Slurm.Spec())]
        )
        job = xm_cluster.ArrayJob(
            executable,
            xm_cluster.Slurm(),
            args=[{"i": i} for i in range(4)],
            env_vars=[{"PROBE_SLEEP": "300"}] * 4,
        )
        experiment.add(job).result()
    reloaded = xm_cluster.get_experiment(experiment.experiment_id)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # wait until the runners hold the programs
        [(_, statuses)] = reloaded.task_statuses()[1]
        if all(s.state is TaskState.RUNNING for s in statuses.values()):
            break
        time.sleep(1)
    reloaded.cancel()
    states: dict[int, TaskState] = {}
    while time.monotonic() < deadline:
        [(_, statuses)] = xm_cluster.get_experiment(experiment.experiment_id).task_statuses()[1]
        states = {t: s.state for t, s in statuses.items()}
        assert TaskState.FAILED not in states.values(), statuses
        if all(state.is_terminal for state in states.values()):
            break
        time.sleep(0.5)
    assert states == {t: TaskState.CANCELLED for t in range(4)}
