"""Lifecycle commands and the SSH master: `ssh_persist = 0` leaves none behind, the default keeps one.

`lxm3 status` of a recorded Slurm job asks the cluster over SSH (the job id is
made up, so it is merely unknown to Slurm). The master is found by its
command line, which names this test's own copy of the ssh config.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lxm3 import xm_cluster
from lxm3.store.db import ExperimentStore
from lxm3.transport import ssh_control
from tests.transport.test_ssh import ALIAS, SSH_CONFIG, testbed  # noqa: F401 - fixture

from .conftest import run_lxm3

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("testbed")]


def masters(config: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"ssh -F {config} "], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "ControlMaster=yes" in line]


@pytest.mark.parametrize("persist", ["0", '"2m"'])
def test_status_leaves_a_master_only_when_asked_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, persist: str
) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(SSH_CONFIG.read_text())
    config = tmp_path / "lxm.toml"
    config.write_text(
        "[[clusters]]\n"
        'name = "tb"\n'
        f"server = {json.dumps(ALIAS)}\n"
        f"ssh_config = {json.dumps(str(ssh_config))}\n"
        f"ssh_persist = {persist}\n"
        "[clusters.storage]\n"
        'staging = "/tmp/lxm3-persist-cli-test"\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(config))
    store = ExperimentStore()
    experiment_id = store.create_experiment("persist", config_path=str(config))
    store.add_job(
        experiment_id,
        1,
        {
            "name": "j",
            "target": "tb",
            "scheduler": "slurm",
            "num_tasks": 1,
            "remote_dir": "/tmp/lxm3-persist-cli-test/experiments/1/1/j",
            "submitted": [{"job_id": "987654321", "offset": 0, "count": 1, "script": "/nonexistent"}],
            "executor": xm_cluster.Slurm(),
        },
    )
    try:
        result = run_lxm3("status", str(experiment_id), "--json")
        assert json.loads(result.stdout)["work_units"][0]["tasks"][0]["state"] == "PENDING"
        if persist == "0":
            assert masters(ssh_config) == [], "ssh_persist = 0: the command closed its master"
        else:
            assert len(masters(ssh_config)) == 1, "the default keeps the master for the next command"
    finally:
        directory = ssh_control.control_dir()
        if directory is not None:
            socket = Path(directory) / ssh_control.socket_name(
                (ALIAS, None, None, str(ssh_config), None, None)
            )
            subprocess.run(
                ["ssh", "-F", str(ssh_config), "-o", f"ControlPath={socket}", "-O", "exit", ALIAS],
                capture_output=True,
            )
