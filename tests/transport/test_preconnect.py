"""Pre-connecting to the cluster the previous launch of the same launcher used.

Against the real loopback sshd: the connection is opened in the background
from the store's record alone, handed to the launch once, and closed if
unused. No record (or LXM3_PRECONNECT=0, or a dry run) means no connection.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lxm3.cli.preconnect import warm_up_for
from lxm3.config import load_config
from lxm3.store.db import ExperimentStore
from lxm3.transport import preconnect
from lxm3.transport.ssh import SSHTransport

from .test_ssh import ALIAS, SSH_CONFIG, SSHD_LOG, SshdLog, testbed  # noqa: F401 - fixture

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("testbed")]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "lxm.toml"
    path.write_text(
        "[[clusters]]\n"
        'name = "cl"\n'
        f"server = {json.dumps(ALIAS)}\n"
        f"ssh_config = {json.dumps(str(SSH_CONFIG))}\n"
        # A private master, so the login count below is exact (test_ssh_persist covers reuse).
        "ssh_persist = 0\n"
        "[[clusters]]\n"
        'name = "other"\n'
        f"server = {json.dumps(ALIAS)}\n"
        f"ssh_config = {json.dumps(str(SSH_CONFIG))}\n"
    )
    monkeypatch.setenv("LXM_CONFIG", str(path))
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    return path


def record_launch(launcher: str, target: str, scheduler: str = "slurm") -> None:
    store = ExperimentStore()
    experiment_id = store.create_experiment("earlier", launcher=launcher)
    store.add_job(
        experiment_id,
        1,
        {
            "name": "j",
            "target": target,
            "scheduler": scheduler,
            "num_tasks": 1,
            "remote_dir": "/x",
            "submitted": [],
        },
    )


def wait_connected(transport: SSHTransport, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while transport.connections == 0:
        assert time.monotonic() < deadline, "the background connection never came up"
        time.sleep(0.05)


def test_connects_to_the_cluster_the_last_launch_used(config_file: Path) -> None:
    record_launch("/work/launch.py", "cl")
    log = SshdLog(SSHD_LOG)
    warm_up_for("/work/launch.py")
    config = load_config()
    [wanted, other] = config.clusters
    assert preconnect.take(config, other) is None  # only the cluster that was used
    transport = preconnect.take(config, wanted)
    assert isinstance(transport, SSHTransport)
    wait_connected(transport)
    assert transport.run(["echo", "ok"]).stdout == "ok\n"
    assert preconnect.take(config, wanted) is None  # handed out once
    transport.close()
    time.sleep(0.3)
    assert len(log.accepted()) == 1


def test_unused_connections_are_closed(config_file: Path) -> None:
    record_launch("/work/launch.py", "cl")
    warm_up_for("/work/launch.py")
    config = load_config()
    transport = preconnect._WARM[(config.source or "", "cl")]
    assert isinstance(transport, SSHTransport)
    wait_connected(transport)
    preconnect.close_unused()
    assert preconnect.take(config, config.clusters[0]) is None
    assert transport._control_dir is None  # closed and cleaned up


@pytest.mark.parametrize("reason", ["no history", "local only", "disabled", "dry run"])
def test_no_connection_without_a_reason(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    if reason == "local only":
        record_launch("/work/launch.py", "local", scheduler="local")
    elif reason == "disabled":
        record_launch("/work/launch.py", "cl")
        monkeypatch.setenv("LXM3_PRECONNECT", "0")
    elif reason == "dry run":
        record_launch("/work/launch.py", "cl")
        monkeypatch.setenv("LXM3_DRY_RUN", "1")
    else:
        record_launch("/work/other.py", "cl")
    warm_up_for("/work/launch.py")
    assert preconnect._WARM == {}
