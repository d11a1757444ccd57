"""Two experiment stores sharing one cluster staging root must not overwrite each other.

Each machine's store numbers its experiments from 1. Without a claim, the
second machine's experiment 1 would rsync its job files over the first's
(running jobs would read the wrong task table). The first launch claims
`experiments/<id>` for its store; a different store hitting the same id is
refused with an actionable message, and the first experiment's files stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lxm3 import xm, xm_cluster
from lxm3.transport.base import TransportError

from .conftest import SlurmCluster, ssh

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def launch_once(store: Path, monkeypatch: pytest.MonkeyPatch, probe_package: Any) -> Any:
    monkeypatch.setenv("LXM3_STORE", str(store))
    with xm_cluster.create_experiment("claims") as experiment:
        [executable] = experiment.package(
            [xm.Packageable(probe_package, executor_spec=xm_cluster.Slurm.Spec())]
        )
        future = experiment.add(xm.Job(executable, xm_cluster.Slurm(), args={"store": store.name}))
        work_unit = future.result()
        work_unit.wait_until_complete()
    return experiment


def test_a_second_store_with_the_same_experiment_id_is_refused(
    slurm_cluster: SlurmCluster, probe_package: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = launch_once(tmp_path / "a.sqlite3", monkeypatch, probe_package)
    assert first.experiment_id == 1
    job_json = f"{slurm_cluster.staging}/experiments/1/1"
    before = ssh(f"cat {job_json}/*/tasks.jsonl").stdout
    assert '"--store=a.sqlite3"' in before

    with pytest.raises(TransportError, match="belongs to another lxm3 experiment store"):
        launch_once(tmp_path / "b.sqlite3", monkeypatch, probe_package)
    # Nothing of the first experiment was touched.
    assert ssh(f"cat {job_json}/*/tasks.jsonl").stdout == before

    # The same store relaunching into its own directory is fine (e.g. a rerun).
    again = launch_once(tmp_path / "a.sqlite3", monkeypatch, probe_package)
    assert again.experiment_id == 2
