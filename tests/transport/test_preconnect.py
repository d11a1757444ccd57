"""Pre-connecting to the cluster the previous launch of the same launcher used.

Against the real loopback sshd: the connection is opened in the background
from the store's record alone, handed to the launch once, and closed if
unused. No record (or LXM3_PRECONNECT=0, or a dry run) means no connection.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from lxm3.cli.preconnect import warm_up_for
from lxm3.config import load_config
from lxm3.store.db import ExperimentStore
from lxm3.transport import preconnect
from lxm3.transport.base import TransportError
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


@pytest.fixture
def single_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config naming ONE cluster, no store yet (a first launch), cold caches."""
    path = tmp_path / "lxm.toml"
    path.write_text(
        "[[clusters]]\n"
        'name = "only"\n'
        f"server = {json.dumps(ALIAS)}\n"
        f"ssh_config = {json.dumps(str(SSH_CONFIG))}\n"
        "ssh_persist = 0\n"
        "[clusters.storage]\n"
        'staging = "~/lxm3-preconnect-test"\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(path))
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LXM_CLUSTER", raising=False)
    return path


def test_a_first_launch_connects_to_the_only_cluster_and_asks_its_first_questions_ahead(
    single_cluster: Path,
) -> None:
    from lxm3.schedulers import limits
    from lxm3.schedulers.slurm import SlurmScheduler
    from lxm3.xm_cluster.cluster_target import make_transport

    warm_up_for("/work/never-launched.py")
    config = load_config()
    [cluster] = config.clusters
    # What the launch's target does: the pre-connected transport is the one it gets.
    transport = make_transport(cluster, config)
    assert isinstance(transport, SSHTransport)
    try:
        wait_connected(transport)
        scheduler = SlurmScheduler(cluster_name="only")
        max_array = scheduler.max_array_size(transport)
        assert max_array == scheduler.known_max_array_size(transport)  # parsed and cached as usual
        assert limits.slurm_capacity(transport, "only", 10) is None  # static limits: answered too
        assert limits.cached_static("only", transport.label) is not None
        home = transport.expand_user("~")
        assert home.startswith("/") and transport.answers.given == 3
        # The entry names no scheduler and the testbed has both: Grid Engine's question was asked too.
        from lxm3.schedulers.sge import GridEngineScheduler

        assert GridEngineScheduler().max_array_size(transport) > 0
        assert transport.answers.given == 4
        assert transport.run(["echo", "then"]).stdout == "then\n"
        assert (transport.connections, transport.commands) == (1, 2), (
            "one connection, one fetch + one command"
        )
    finally:
        transport.close()
        preconnect.close_unused()


def test_a_relaunch_with_fresh_caches_asks_nothing_ahead(single_cluster: Path) -> None:
    from lxm3.schedulers.first_questions import first_questions

    transport = SSHTransport(ALIAS, ssh_config=str(SSH_CONFIG))
    try:
        from lxm3.schedulers.slurm import SlurmScheduler

        SlurmScheduler(cluster_name="only").max_array_size(transport)
        from lxm3.schedulers import limits

        limits.slurm_capacity(transport, "only", 10)
        assert first_questions("only", "slurm", transport) == []
        # With no scheduler named, Slurm's cached answers say it is a Slurm cluster: nothing for
        # Grid Engine either (a relaunch runs no extra remote command).
        assert first_questions("only", None, transport) == []
    finally:
        transport.close()


def test_several_clusters_and_no_history_means_no_guess_unless_lxm_cluster_names_one(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm_up_for("/work/never-launched.py")
    assert preconnect._WARM == {}
    monkeypatch.setenv("LXM_CLUSTER", "other")
    warm_up_for("/work/never-launched.py")
    config = load_config()
    assert list(preconnect._WARM) == [(config.source or "", "other")]
    preconnect.close_unused()


def test_a_guess_prompts_for_nothing_and_a_refusal_that_wants_a_prompt_is_not_remembered(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(
        re.sub(r"UserKnownHostsFile\s+\S+", f"UserKnownHostsFile {empty}", SSH_CONFIG.read_text())
    )
    guess = SSHTransport(ALIAS, ssh_config=str(config), connect_timeout=10)
    with pytest.raises(TransportError, match="Host key verification failed"):
        guess.connect(batch=True)
    assert guess._connect_error is None, "the launch's own connect may still ask the user"
    launch = SSHTransport(ALIAS, ssh_config=str(config), connect_timeout=10)
    with pytest.raises(TransportError):
        launch.connect()
    assert launch._connect_error is not None, "asked once per launch, not once per command"


def test_closing_unused_connections_does_not_wait_for_a_host_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lxm.toml"
    path.write_text(
        '[[clusters]]\nname = "silent"\nserver = "silent.invalid"\nproxycommand = "sleep 4"\nssh_persist = 0\n'
    )
    monkeypatch.setenv("LXM_CONFIG", str(path))
    monkeypatch.setenv("LXM3_STORE", str(tmp_path / "store.sqlite3"))
    monkeypatch.delenv("LXM_CLUSTER", raising=False)
    warm_up_for("/work/never-launched.py")
    assert len(preconnect._WARM) == 1
    started = time.monotonic()
    preconnect.close_unused()
    assert time.monotonic() - started < 1.0
