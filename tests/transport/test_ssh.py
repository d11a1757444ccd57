"""SSHTransport against the real loopback sshd of the testbed (tests/testbed/sshd-up.sh).

These tests fail, rather than skip, when the testbed is down: a silently skipped
SSH suite is how a broken transport ships.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxm3.transport.base import TransportError
from lxm3.transport.ssh import SSHTransport
from tests.hostile import HOSTILE_VALUES

pytestmark = pytest.mark.ssh

SSH_DIR = Path(os.environ.get("LXM3_TESTBED_SSH_DIR", "/tmp/lxm3-testbed/ssh"))
SSH_CONFIG = Path(os.environ.get("LXM3_TESTBED_SSH_CONFIG", str(SSH_DIR / "ssh_config")))
SSHD_LOG = Path(os.environ.get("LXM3_TESTBED_SSHD_LOG", str(SSH_DIR / "sshd.log")))
ALIAS = os.environ.get("LXM3_TESTBED_ALIAS", "testcluster")
USER = os.environ.get("LXM3_TESTBED_USER", "hpcuser")

HOSTILE = HOSTILE_VALUES


class SshdLog:
    """Counts successful logins of one user in the sshd log after a baseline."""

    def __init__(self, path: Path, user: str = USER) -> None:
        self.path = path
        self.user = user
        self.offset = path.stat().st_size

    def accepted(self) -> list[str]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        return [line for line in text.splitlines() if f"Accepted publickey for {self.user} " in line]


@pytest.fixture(scope="module")
def testbed() -> None:
    if not SSH_CONFIG.is_file():
        pytest.fail(f"the ssh testbed is not up ({SSH_CONFIG} missing): run tests/testbed/sshd-up.sh as root")
    probe = subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), ALIAS, "true"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.fail(
            f"cannot reach the ssh testbed ({ALIAS}): {probe.stderr.strip()}; run tests/testbed/sshd-up.sh"
        )
    if not os.access(SSHD_LOG, os.R_OK):
        pytest.fail(f"cannot read the sshd log {SSHD_LOG}")


@pytest.fixture
def transport(testbed: None) -> Iterator[SSHTransport]:
    ssh = SSHTransport(ALIAS, ssh_config=str(SSH_CONFIG))
    yield ssh
    ssh.close()


@pytest.fixture
def remote_dir(transport: SSHTransport) -> Iterator[str]:
    path = transport.run(["mktemp", "-d", "--tmpdir=.", "lxm3-test.XXXXXX"]).stdout.strip()
    absolute = transport.expand_user(f"~/{path.removeprefix('./')}")
    yield absolute
    transport.run(["rm", "-rf", absolute])


def test_hostile_argv_round_trips_through_the_remote_shell(transport: SSHTransport) -> None:
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = transport.run(["python3", "-c", script, *HOSTILE])
    assert json.loads(result.stdout) == HOSTILE
    assert transport.run(["sh", "-c", "test ! -e pwned && echo safe"]).stdout == "safe\n"


def test_exit_codes_stdin_and_errors(transport: SSHTransport) -> None:
    assert transport.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert transport.run(["tr", "a-z", "A-Z"], input="héllo\n").stdout == "HéLLO\n"
    with pytest.raises(TransportError) as error:
        transport.run(["sh", "-c", "echo noise >&2; echo 'sbatch: error: invalid account' >&2; exit 1"])
    assert str(error.value) == f"sh on {ALIAS} failed: sbatch: error: invalid account"
    result = transport.run_script('x="a b"; set -- $x; echo "$#"')
    assert result.stdout == "2\n"


def test_expand_user(transport: SSHTransport) -> None:
    import pwd

    home = pwd.getpwnam(USER).pw_dir
    assert transport.expand_user("~") == home
    assert transport.expand_user("~/lxm3-staging/x") == f"{home}/lxm3-staging/x"
    assert transport.expand_user("/scratch/~me") == "/scratch/~me"
    assert transport.expand_user("~other/x") == "~other/x"


def remote_sha256(transport: SSHTransport, path: str) -> str:
    return transport.run(["sha256sum", path]).stdout.split()[0]


def make_tree(root: Path) -> Path:
    (root / "artifacts").mkdir(parents=True)
    (root / "experiments" / "1" / "1").mkdir(parents=True)
    (root / "artifacts" / "big.zip").write_bytes(os.urandom(300_000))
    (root / "experiments" / "1" / "1" / "job.json").write_text('{"name": "x"}')
    (root / "experiments" / "1" / "1" / "job-0.sh").write_text("#!/bin/bash\necho hi\n")
    (root / "experiments" / "1" / "1" / "job-0.sh").chmod(0o755)
    return root


def test_upload_sends_the_bytes_once_and_counts_them(
    transport: SSHTransport, remote_dir: str, tmp_path: Path
) -> None:
    local = make_tree(tmp_path / "staging")
    big = local / "artifacts" / "big.zip"
    files = ["artifacts/big.zip", "experiments/1/1/job.json", "experiments/1/1/job-0.sh"]
    sent = transport.upload(local, remote_dir, files=files)
    assert sent >= 300_000, "random data does not compress: at least its size went over the wire"
    assert (
        remote_sha256(transport, f"{remote_dir}/artifacts/big.zip")
        == hashlib.sha256(big.read_bytes()).hexdigest()
    )
    assert transport.run(["cat", f"{remote_dir}/experiments/1/1/job.json"]).stdout == '{"name": "x"}'
    modes = transport.run(
        ["stat", "-c", "%a %n", f"{remote_dir}/experiments/1/1/job-0.sh", f"{remote_dir}/artifacts/big.zip"]
    ).stdout.split("\n")
    assert modes[0].startswith("700 ") and modes[1].startswith("600 "), "exec bit kept, private to the user"
    again = transport.upload(local, remote_dir, files=files)
    assert again < 5_000, f"an unchanged upload sent {again} bytes"
    assert transport.bytes_sent == sent + again
    assert transport.upload(local, remote_dir, files=[]) == 0


def test_upload_replaces_files_atomically(transport: SSHTransport, remote_dir: str, tmp_path: Path) -> None:
    local = make_tree(tmp_path / "staging")
    transport.upload(local, remote_dir, files=["experiments/1/1/job.json"])
    remote = Path(remote_dir) / "experiments" / "1" / "1" / "job.json"  # loopback: the same filesystem
    with open(remote) as reader:  # e.g. a running task reading the old version
        (local / "experiments" / "1" / "1" / "job.json").write_text(
            '{"name": "new", "pad": "' + "x" * 1000 + '"}'
        )
        transport.upload(local, remote_dir, files=["experiments/1/1/job.json"])
        assert reader.read() == '{"name": "x"}', "the old file was rewritten in place"
    assert remote.read_text().startswith('{"name": "new"')
    leftovers = transport.run(["find", remote_dir, "-name", ".*", "-type", "f"]).stdout
    assert leftovers == "", "no temporary files left behind"


def test_download(transport: SSHTransport, remote_dir: str, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 10
    local = tmp_path / "up"
    local.mkdir()
    (local / "blob").write_bytes(payload)
    transport.upload(local, remote_dir, files=["blob"])
    transport.download(f"{remote_dir}/blob", tmp_path / "down")
    assert (tmp_path / "down").read_bytes() == payload
    with pytest.raises(TransportError, match="cannot fetch"):
        transport.download(f"{remote_dir}/missing", tmp_path / "nothing")


def test_many_commands_and_uploads_use_exactly_one_connection(testbed: None, tmp_path: Path) -> None:
    # As root (the testbed's `<alias>-root`): other test runs log in as the test user
    # all the time, so only a user nobody else uses gives an exact count.
    log = SshdLog(SSHD_LOG, user="root")
    local = make_tree(tmp_path / "staging")
    with SSHTransport(f"{ALIAS}-root", ssh_config=str(SSH_CONFIG)) as transport:
        remote = transport.expand_user("~/lxm3-test-one-connection")
        ports = {transport.run(["sh", "-c", "echo $SSH_CONNECTION"]).stdout.split()[1] for _ in range(3)}
        transport.upload(local, remote, files=["artifacts/big.zip"])
        transport.upload(local, remote)
        transport.download(f"{remote}/experiments/1/1/job.json", tmp_path / "job.json")
        # More at once than sshd's MaxSessions (10): the transport must queue, not fail or reconnect.
        results: list[str] = []
        threads = [
            threading.Thread(target=lambda n=n: results.append(transport.run(["echo", str(n)]).stdout))
            for n in range(12)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        transport.run(["rm", "-rf", remote])
        assert transport.connections == 1
    assert sorted(int(r) for r in results) == list(range(12)), "all concurrent sessions succeeded"
    assert (tmp_path / "job.json").read_text() == '{"name": "x"}'
    assert len(ports) == 1, "every command rode the same TCP connection"
    accepted = log.accepted()
    assert len(accepted) == 1, accepted
    assert f"port {ports.pop()} " in accepted[0]


def test_close_stops_the_master_and_a_later_command_reconnects(testbed: None) -> None:
    transport = SSHTransport(ALIAS, ssh_config=str(SSH_CONFIG))
    try:
        transport.run(["true"])
        control = Path(transport.control_path)
        assert control.exists()
        transport.close()
        assert not control.exists() and not control.parent.exists()
        assert transport.run(["echo", "back"]).stdout == "back\n"
        assert transport.connections == 2
    finally:
        transport.close()


def test_unknown_host_key_is_refused_with_a_clear_error(testbed: None, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config_text = SSH_CONFIG.read_text()
    assert "UserKnownHostsFile" in config_text
    config = tmp_path / "ssh_config"
    config.write_text(re.sub(r"UserKnownHostsFile\s+\S+", f"UserKnownHostsFile {empty}", config_text))
    log = SshdLog(SSHD_LOG)
    transport = SSHTransport(ALIAS, ssh_config=str(config), connect_timeout=10)
    try:
        with pytest.raises(TransportError) as error:
            transport.run(["echo", "should not run"])
        message = str(error.value)
        assert message.startswith(f"cannot connect to {ALIAS}:")
        assert "Host key verification failed" in message
        assert "\n" not in message
        assert transport.connections == 0
        assert empty.read_text() == "", "the unknown key was not silently accepted"
    finally:
        transport.close()
    assert log.accepted() == []


def test_rsync_is_required_locally(
    transport: SSHTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport.run(["true"])
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(TransportError, match="rsync is not installed"):
        transport.upload(tmp_path, "/tmp/unused", files=["x"])
