"""The SSH master outliving a launch (`ssh_persist`) and a user's own ControlMaster, on the real sshd.

Each test uses its own copy of the testbed's ssh config, so its persistent
socket (named after the connection's identity, config path included) is its
own, and logs in as root (`<alias>-root`), whom no other test run uses, so
the sshd log's login count is exact.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxm3.config import ConfigError, parse_config
from lxm3.transport import ssh_control
from lxm3.transport.ssh import SSHTransport

from .test_ssh import ALIAS, SSH_CONFIG, SSHD_LOG, SshdLog, testbed  # noqa: F401 - fixture

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("testbed")]
ROOT_ALIAS = f"{ALIAS}-root"


@pytest.fixture
def own_config(tmp_path: Path) -> Iterator[Path]:
    """A copy of the testbed's ssh config; the persistent master it gets is stopped afterwards."""
    config = tmp_path / "ssh_config"
    config.write_text(SSH_CONFIG.read_text())
    yield config
    directory = ssh_control.control_dir()
    if directory is None:  # the test made it unusable
        return
    socket = os.path.join(
        directory, ssh_control.socket_name((ROOT_ALIAS, None, None, str(config), None, None))
    )
    subprocess.run(
        ["ssh", "-F", str(config), "-o", f"ControlPath={socket}", "-O", "exit", ROOT_ALIAS],
        capture_output=True,
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("10m", 600), ("90s", 90), ("1h", 3600), ("45", 45), (120, 120), (0, 0), ("0", 0), ("off", 0)],
)
def test_ssh_persist_values(value: object, seconds: int) -> None:
    config = parse_config({"clusters": [{"name": "c", "ssh_persist": value}]}, "lxm.toml")
    assert config.clusters[0].ssh_persist == seconds


def test_ssh_persist_defaults_to_ten_minutes_and_rejects_nonsense() -> None:
    assert parse_config({"clusters": [{"name": "c"}]}, "x").clusters[0].ssh_persist == 600
    with pytest.raises(ConfigError) as error:
        parse_config({"clusters": [{"name": "c", "ssh_persist": "soon"}]}, "lxm.toml")
    assert str(error.value).startswith("lxm.toml: clusters[0].ssh_persist must be a duration")
    with pytest.raises(ConfigError):
        parse_config({"clusters": [{"name": "c", "ssh_persist": -5}]}, "lxm.toml")


def test_the_second_launch_reuses_the_first_ones_master(own_config: Path) -> None:
    log = SshdLog(SSHD_LOG, user="root")
    first = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    assert first.run(["echo", "one"]).stdout == "one\n"
    socket = first.control_path
    first.close()
    assert first.connections == 1
    directory = os.path.dirname(socket)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert ssh_control.master_alive(socket), "the master outlives the process that opened it"

    second = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    assert second.run(["echo", "two"]).stdout == "two\n"
    assert (second.connections, second.reused) == (0, 1)
    assert second.control_path == socket
    second.close()
    assert len(log.accepted()) == 1, "one login for both launches"


def test_a_stale_socket_is_replaced(own_config: Path) -> None:
    first = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    first.run(["true"])
    socket = first.control_path
    first.close()
    subprocess.run(
        ["ssh", "-F", str(own_config), "-o", f"ControlPath={socket}", "-O", "exit", ROOT_ALIAS],
        capture_output=True,
    )
    Path(socket).touch()  # a socket file whose master is gone (e.g. after a reboot of the server)
    again = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    assert again.run(["echo", "ok"]).stdout == "ok\n"
    assert (again.connections, again.reused) == (1, 0)
    again.close()


def test_ssh_persist_zero_leaves_no_master(own_config: Path) -> None:
    transport = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=0)
    transport.run(["true"])
    socket = transport.control_path
    assert ssh_control.master_alive(socket)
    transport.close()
    assert not os.path.exists(socket) and not os.path.exists(os.path.dirname(socket))


def test_the_users_own_control_master_is_used(tmp_path: Path) -> None:
    sockets = tmp_path / "s"
    sockets.mkdir(mode=0o700)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {ROOT_ALIAS}\n  ControlMaster auto\n  ControlPath {sockets}/%r@%h:%p\n\n"
        + SSH_CONFIG.read_text()
    )
    log = SshdLog(SSHD_LOG, user="root")
    subprocess.run(
        ["ssh", "-F", str(config), "-o", "ControlPersist=60", "-M", "-N", "-f", ROOT_ALIAS], check=True
    )
    try:
        transport = SSHTransport(ROOT_ALIAS, ssh_config=str(config), ssh_persist=60)
        assert transport.run(["echo", "mine"]).stdout == "mine\n"
        assert (transport.connections, transport.reused) == (0, 1)
        assert transport.control_path.startswith(str(sockets))
        transport.close()
        assert len(log.accepted()) == 1, "only the user's own master logged in"
    finally:
        subprocess.run(["ssh", "-F", str(config), "-O", "exit", ROOT_ALIAS], capture_output=True)


def test_an_unsafe_socket_directory_is_not_used(
    own_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    (runtime / "lxm3-ssh").mkdir(parents=True)
    (runtime / "lxm3-ssh").chmod(0o755)  # others could reach the sockets: refuse it
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert ssh_control.control_dir() is None
    transport = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    transport.run(["true"])
    socket = transport.control_path
    assert not socket.startswith(str(runtime))
    transport.close()
    assert not os.path.exists(socket), "a private master, closed at the end"


def test_discarding_an_unused_connection_stops_only_a_master_it_started(own_config: Path) -> None:
    """A wrong pre-connect guess keeps no login for ssh_persist; a reused master stays up."""
    import time

    kept = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    kept.connect()
    socket = kept.control_path
    kept.close()
    reused = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    reused.connect(batch=True)
    assert (reused.connections, reused.reused) == (0, 1)
    reused.discard()
    assert ssh_control.master_alive(socket), "a master it only reused is someone else's"

    subprocess.run(
        ["ssh", "-F", str(own_config), "-o", f"ControlPath={socket}", "-O", "exit", ROOT_ALIAS],
        capture_output=True,
    )
    guess = SSHTransport(ROOT_ALIAS, ssh_config=str(own_config), ssh_persist=60)
    guess.connect(batch=True)
    assert guess.connections == 1
    guess.discard()
    deadline = time.monotonic() + 10
    while ssh_control.master_alive(socket):
        assert time.monotonic() < deadline, "the unused master it started was not stopped"
        time.sleep(0.1)
