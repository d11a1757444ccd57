"""One SSH connection per launch: OpenSSH with a ControlMaster.

Why the `ssh` binary and not paramiko: it honours everything in
`~/.ssh/config` (Host aliases, HostName, Port, User, IdentityFile, ProxyJump,
ProxyCommand, Match, agent and 2FA setups) exactly as the user's own `ssh`
does, and rsync can ride on the same connection. The master authenticates
once in the foreground (so a password or 2FA prompt appears at most once per
launch); every command and transfer after that is a multiplexed session over
it, which opens no new connection on the server.

Host keys are verified as the user's ssh config says (OpenSSH's default
refuses unknown hosts without a terminal); nothing here turns that off.
Commands are argv lists quoted with `shlex.join` for the remote POSIX shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxm3.transport import ssh_control, terminal
from lxm3.transport.base import HOME_ARGV, CommandResult, Transport, TransportError, check_result
from lxm3.transport.prefetch import Answers

_SSH_FAILED = 255
#: OpenSSH servers allow 10 sessions per connection by default (MaxSessions).
_MAX_SESSIONS = 8
_BYTES_SENT = re.compile(r"Total bytes sent:\s*([\d,.]+)")
#: Why a non-interactive (BatchMode) connect can fail where an interactive one may succeed.
_NEEDS_A_PROMPT = ("Permission denied", "Host key verification failed")


class SSHTransport(Transport):
    """Runs commands and syncs files over a single multiplexed OpenSSH connection."""

    def __init__(
        self,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        ssh_config: str | None = None,
        identity_file: str | None = None,
        proxy_command: str | None = None,
        password: str | None = None,
        connect_timeout: int = 30,
        persist_seconds: int = 60,
        ssh_persist: int = 0,
    ) -> None:
        self.host = host
        self.user = user
        self.port = port
        self.ssh_config = os.path.expanduser(ssh_config) if ssh_config else None
        self.identity_file = os.path.expanduser(identity_file) if identity_file else None
        self.proxy_command = proxy_command
        self._password = password
        self.connect_timeout = connect_timeout
        self.persist_seconds = persist_seconds
        #: Seconds the master outlives this process (0: a private master, closed by `close`).
        self.ssh_persist = ssh_persist
        #: The socket in use when it is shared (lxm3's persistent one or the user's own).
        self._shared_path: str | None = None
        self.label = f"{user}@{host}" if user else host
        self._control_dir: str | None = None
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(_MAX_SESSIONS)
        self._connected = False
        self._connect_error: TransportError | None = None
        self._bytes_sent = 0
        self._home: str | None = None
        #: Connections opened (1 per launch when all goes well); tests and benchmarks read it.
        self.connections = 0
        #: Live masters found and reused instead (lxm3's persistent one or the user's own).
        self.reused = 0
        #: Remote commands run (round trips); tests and benchmarks read it.
        self.commands = 0
        #: Answers to the launch's first questions, fetched ahead (see lxm3.transport.prefetch).
        self.answers = Answers()

    @classmethod
    def from_cluster_config(cls, cluster: Any) -> SSHTransport:
        return cls(
            cluster.server,
            user=cluster.user,
            port=cluster.port,
            ssh_config=cluster.ssh_config,
            identity_file=cluster.ssh_private_key,
            proxy_command=cluster.proxycommand,
            password=cluster.password,
            ssh_persist=getattr(cluster, "ssh_persist", 0),
        )

    # ----- connection -----
    @property
    def control_path(self) -> str:
        if self._shared_path is not None:
            return self._shared_path
        return os.path.join(self._private_dir(), "cm")

    def _private_dir(self) -> str:
        """This process's own 0700 directory (private master socket, askpass helper)."""
        if self._control_dir is None:
            # Short path: unix socket names are limited to ~104 bytes.
            self._control_dir = tempfile.mkdtemp(prefix="lxm3-ssh-", dir="/tmp")
        return self._control_dir

    def _config_options(self) -> list[str]:
        """The options that select the host's configuration (no ControlPath)."""
        options: list[str] = []
        if self.ssh_config:
            options += ["-F", self.ssh_config]
        if self.user:
            options += ["-l", self.user]
        if self.port:
            options += ["-p", str(self.port)]
        if self.identity_file:
            options += ["-i", self.identity_file]
        if self.proxy_command:
            options += ["-o", f"ProxyCommand={self.proxy_command}"]
        return options

    def _common_options(self) -> list[str]:
        return [*self._config_options(), "-o", f"ControlPath={self.control_path}"]

    def ssh_argv(self) -> list[str]:
        """The `ssh` command that reuses the master connection (for rsync's -e too)."""
        return ["ssh", *self._common_options(), "-o", "ControlMaster=no", "-o", "BatchMode=yes"]

    def _askpass_env(self) -> dict[str, str]:
        """Feeds the configured password to ssh without a terminal (SSH_ASKPASS)."""
        if not self._password:
            return dict(os.environ)
        script = os.path.join(self._private_dir(), "askpass")
        with open(script, "w") as handle:
            handle.write('#!/bin/sh\nprintf "%s\\n" "$LXM3_SSH_PASSWORD"\n')
        os.chmod(script, 0o700)
        return dict(
            os.environ, SSH_ASKPASS=script, SSH_ASKPASS_REQUIRE="force", LXM3_SSH_PASSWORD=self._password
        )

    def connect(self, *, batch: bool = False) -> None:
        """Opens the master connection (authenticating once); idempotent.

        A failed attempt is remembered and re-raised rather than retried, so a
        wrong password or a refused 2FA prompt is asked once per launch, not
        once per command. `batch` (a guess made ahead, `lxm3.transport.preconnect`)
        prompts for nothing: when it fails for want of a prompt (a 2FA code, a
        key passphrase, an unknown host key), the failure is not remembered, so
        the launch's own first command connects again and prompts then.
        """
        with self._lock:
            if self._connected:
                return
            if self._connect_error is not None:
                raise self._connect_error
            if self.ssh_persist > 0 and self._connect_shared(batch):
                return
            self._start_master(self.persist_seconds, batch)

    def _identity(self) -> tuple[object, ...]:
        """What makes two transports the same connection (the persistent socket's name)."""
        return (self.host, self.user, self.port, self.ssh_config, self.identity_file, self.proxy_command)

    def _connect_shared(self, batch: bool = False) -> bool:
        """Reuses a live master (lxm3's persistent one, else the user's own) or starts a persistent one.

        False when no private socket directory can be used: the caller then
        opens a private master as with `ssh_persist = 0`.
        """
        directory = ssh_control.control_dir()
        ours = os.path.join(directory, ssh_control.socket_name(self._identity())) if directory else None
        if ours is not None and ssh_control.master_alive(ours):
            self._shared_path = ours
            self._connected = True
            self.reused += 1
            return True
        theirs = ssh_control.user_control_path(self._config_options(), self.host)
        if theirs is not None and ssh_control.master_alive(theirs):
            self._shared_path = theirs
            self._connected = True
            self.reused += 1
            return True
        if ours is None:
            return False
        with ssh_control.locked(ours):
            self._shared_path = ours
            if ssh_control.master_alive(ours):  # another launch started it meanwhile
                self._connected = True
                self.reused += 1
                return True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ours)  # a stale socket would make `ControlMaster=yes` give up multiplexing
            try:
                self._start_master(self.ssh_persist, batch)
            except TransportError:
                self._shared_path = None
                raise
        return True

    def _start_master(self, persist: int, batch: bool = False) -> None:
        """Opens the master connection in the foreground (one password/2FA prompt), then backgrounds it."""
        argv = [
            "ssh",
            *self._common_options(),
            *(["-o", "BatchMode=yes"] if batch else []),
            "-o", "ControlMaster=yes",
            "-o", f"ControlPersist={persist}",
            "-o", f"ConnectTimeout={self.connect_timeout}",
            "-o", "ServerAliveInterval=30",
            "-N", "-f",
            self.host,
        ]  # fmt: skip
        # Where the user's terminal is, so an interactive password/2FA prompt can be answered.
        returncode, stderr = terminal.run(argv, self._askpass_env())
        if returncode != 0:
            detail = stderr.strip().splitlines()
            error = TransportError(
                f"cannot connect to {self.label}: {detail[-1] if detail else 'ssh exit ' + str(returncode)}"
            )
            if not (batch and any(hint in stderr for hint in _NEEDS_A_PROMPT)):
                self._connect_error = error
            raise error
        self._connected = True
        self.connections += 1

    def close(self) -> None:
        """Ends this process's use of the connection; a shared master stays up (see ssh_control)."""
        with self._lock:
            if self._shared_path is not None:
                self._connected = False
                self._shared_path = None
            if self._connected:
                subprocess.run(
                    ["ssh", *self._common_options(), "-O", "exit", self.host],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                self._connected = False
            if self._control_dir is not None:
                shutil.rmtree(self._control_dir, ignore_errors=True)
                self._control_dir = None

    def discard(self) -> None:
        """Ends a connection nothing used (a pre-connect guess that was wrong).

        Unlike `close`, a shared master that THIS transport started is stopped
        too (`-O stop`: sessions of other processes on it may finish first), so
        a wrong guess does not keep a login for `ssh_persist`; one it merely
        reused stays up.
        """
        with self._lock:
            if self._shared_path is not None and self.connections > 0:
                subprocess.run(
                    ["ssh", *self._common_options(), "-O", "stop", self.host],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        self.close()

    # ----- commands -----
    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> CommandResult:
        if not input:
            answer = self.answers.take(argv)
            if answer is not None:
                return check_result(answer, f"{argv[0]} on {self.label}") if check else answer
        self.connect()
        self.commands += 1
        remote = shlex.join(list(argv))
        command = [*self.ssh_argv(), self.host, "--", remote]
        with self._sessions:
            try:
                completed = subprocess.run(
                    command,
                    input=input if input is not None else "",
                    capture_output=True,
                    encoding="utf-8",
                    errors="replace",
                    timeout=timeout,
                    # Out of the terminal's process group: a Ctrl-C meant for lxm3 must not
                    # kill a submission half way (lxm3 decides what to wait for, see interrupts.py).
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired as error:
                raise TransportError(f"{argv[0]} on {self.label} timed out after {timeout} s") from error
        if completed.returncode == _SSH_FAILED and "mux_client" in completed.stderr:
            raise TransportError(f"lost the connection to {self.label}: {completed.stderr.strip()}")
        result = CommandResult(tuple(argv), completed.returncode, completed.stdout, completed.stderr)
        return check_result(result, f"{argv[0]} on {self.label}") if check else result

    def expand_user(self, path: str) -> str:
        if not path.startswith("~"):
            return path
        if self._home is None:
            self._home = self.run(HOME_ARGV).stdout
        return self._home + path[1:] if path == "~" or path.startswith("~/") else path

    # ----- files -----
    def upload(self, local_dir: Path, remote_dir: str, *, files: Sequence[str] | None = None) -> int:
        """rsync over the master connection; rsync writes temp files and renames them."""
        self.connect()
        if files is not None and not files:
            return 0
        rsync = shutil.which("rsync")
        if rsync is None:
            raise TransportError(
                "rsync is not installed on this machine; install it (e.g. apt-get install rsync)"
            )
        argv = [
            rsync, "--recursive", "--links", "--times", "--perms", "--compress", "--stats",
            "--chmod=Dgo-rwx,Fgo-rwx",
            "-e", shlex.join(self.ssh_argv()),
        ]  # fmt: skip
        payload = None
        if files is not None:
            argv += ["--files-from=-", "--from0"]
            payload = "\0".join(files)
        argv += [f"{local_dir}/", f"{self.host}:{remote_dir}/"]
        with self._sessions:
            completed = subprocess.run(
                argv, input=payload, capture_output=True, text=True, start_new_session=True
            )
        if completed.returncode != 0:
            detail = [line for line in completed.stderr.strip().splitlines() if line.strip()]
            # rsync's own summary ("rsync error: ... (code 255)") says less than the line before it.
            cause = [line for line in detail if not line.startswith(("rsync error", "rsync: connection"))]
            if completed.returncode == 255 or any("connection" in line.lower() for line in detail):
                raise TransportError(
                    f"lost the connection to {self.label} while sending files to {remote_dir}"
                    + (f": {cause[-1]}" if cause else "")
                    + "; nothing was submitted, launch again"
                )
            raise TransportError(
                f"rsync to {self.label}:{remote_dir} failed: "
                f"{(cause or detail)[-1] if detail else completed.returncode}"
            )
        match = _BYTES_SENT.search(completed.stdout)
        sent = int(re.sub(r"[,.]", "", match.group(1))) if match else 0
        self._bytes_sent += sent
        return sent

    def download(self, remote_path: str, local_path: Path) -> None:
        self.connect()
        command = [*self.ssh_argv(), self.host, "--", shlex.join(["cat", remote_path])]
        with self._sessions:
            completed = subprocess.run(command, capture_output=True, start_new_session=True)
        if completed.returncode != 0:
            detail = completed.stderr.decode(errors="replace").strip().splitlines()
            raise TransportError(
                f"cannot fetch {self.label}:{remote_path}: {detail[-1] if detail else completed.returncode}"
            )
        local_path.write_bytes(completed.stdout)

    @property
    def bytes_sent(self) -> int:
        return self._bytes_sent
