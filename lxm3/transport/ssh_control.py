"""Where lxm3's SSH master lives between launches, and finding a user's own master.

A relaunch is the loop a researcher repeats all day; its fixed cost used to be
one SSH handshake (and, on 2FA clusters, one prompt) per launch. With
`[[clusters]] ssh_persist = "10m"` (the default) the master connection lxm3
opens stays up for that long after its last use (OpenSSH `ControlPersist`),
and the next launch finds it by its socket, so it pays no handshake at all.
`ssh_persist = 0` restores one private master per process, closed at the end.

The sockets live in ONE directory per user, mode 0700 and owned by them
(`$XDG_RUNTIME_DIR/lxm3-ssh`, else `/tmp/lxm3-ssh-<uid>`): anyone who can
reach a master's socket can run commands as its user. A directory that
exists with other owners or wider permissions is not used (persistence is
then off for that process) rather than repaired.

A user whose `~/.ssh/config` already keeps a ControlMaster for the host (e.g.
`ControlMaster auto` + `ControlPath ~/.ssh/cm-%r@%h:%p`) is served by THAT
master when it is up: `ssh -G` names its socket, and lxm3 rides on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator, Sequence

#: The default of `[[clusters]] ssh_persist`: ten minutes.
from lxm3.config import DEFAULT_PERSIST_SECONDS, parse_persist
from lxm3.transport.private_dir import private_dir

__all__ = ["DEFAULT_PERSIST_SECONDS", "parse_persist"]


def control_dir() -> str | None:
    """This user's private socket directory (created 0700), or None if it is not safe to use."""
    return private_dir("lxm3-ssh")


def socket_name(parts: Sequence[object]) -> str:
    """A short socket name for a connection's identity (unix socket paths are limited to ~104 bytes)."""
    digest = hashlib.sha256("\0".join("" if p is None else str(p) for p in parts).encode())
    return "cm-" + digest.hexdigest()[:20]


def master_alive(path: str) -> bool:
    """Whether a master listens on `path` (a unix-socket connect: ~0.1 ms, no ssh process).

    A stale socket (its master gone) refuses the connection.
    """
    if not os.path.exists(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def user_control_path(ssh_options: Sequence[str], host: str) -> str | None:
    """The ControlPath the user's ssh config gives `host` (None when it has none).

    `ssh -G` evaluates the config exactly as `ssh` would (Match, Include,
    tokens such as %r@%h:%p expanded) without connecting.
    """
    try:
        result = subprocess.run(
            ["ssh", *ssh_options, "-G", host],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    master = path = None
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "controlpath":
            path = value.strip()
        elif key == "controlmaster":
            master = value.strip()
    if not path or path == "none" or master in (None, "false", "no"):
        return None
    return os.path.expanduser(path)


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Serialises starting the master for one socket across processes (flock on `<socket>.lock`).

    Without it, two launches starting at once would both start a master; the
    second's `ControlMaster=yes` would find the first's socket and run on as a
    plain, never-ending connection.
    """
    handle = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
