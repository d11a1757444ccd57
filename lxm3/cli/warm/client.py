"""The `lxm3` side of a served command: connect, hand the command over, relay, exit with its status.

This runs before anything else in the `lxm3` process, so it imports only the
standard library's basics. It falls back (returns None: run in-process) only
when the command cannot have started: no server, a refused or broken
connection before the child said it runs. After that, the child's fate is
the command's: its exit status is returned, and the command is never run twice.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from lxm3.cli.warm import SERVED, off_by_env, protocol, stamp
from lxm3.transport.private_dir import private_dir

#: Signals the terminal sends to its whole foreground group (`lxm3` and what it started):
#: forwarded to the served command's process group.
TO_GROUP = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
#: Signals sent to `lxm3` itself (`kill PID`): forwarded to the served command's process.
TO_PROCESS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
#: How long to wait for a server that is still importing (its `.starting` mark is this fresh).
STARTING_WAIT_S = 3.0
DIRECTORY_NAME = "lxm3-warm"
#: Unix socket paths longer than this cannot be bound everywhere (macOS: 104 bytes with the NUL).
MAX_SOCKET_PATH = 100


class Miss:
    """What a server started after this command needs: taken before the command changes any of it."""

    def __init__(self, socket_path: str, sys_path: list[str], environ: dict[str, str]) -> None:
        self.socket_path = socket_path
        self.sys_path = sys_path
        self.environ = environ


#: Set when this process could have been served but was not (see `spawn.after_command`).
missed: Miss | None = None


class _NotStartedError(Exception):
    """The command did not start in a child: running it here is safe."""


def socket_path(directory: str, digest: str) -> str:
    return os.path.join(directory, f"{digest}.sock")


def try_run(argv: list[str]) -> int | None:
    """Runs `lxm3 ARGV` in a warm child and returns its exit status; None to run it in this process."""
    global missed
    if off_by_env() or not argv or argv[0] not in SERVED:
        return None
    directory = private_dir(DIRECTORY_NAME)
    if directory is None:
        return None
    path = socket_path(directory, stamp.compute())
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return None  # (a deep $XDG_RUNTIME_DIR: no server can listen there)
    missed = Miss(path, list(sys.path), dict(os.environ))
    sock = _connect(path)
    if sock is None:
        return None
    try:
        code = _served(sock, argv)
    except (_NotStartedError, protocol.ProtocolError, OSError):
        return None
    finally:
        sock.close()
    missed = None
    return code


def _starting(path: str) -> bool:
    try:
        age = time.time() - os.stat(path + ".starting").st_mtime
    except OSError:
        return False
    return age < STARTING_WAIT_S


def _connect(path: str) -> socket.socket | None:
    """A connection to the server; waits for one still importing, else None."""
    deadline = time.monotonic() + STARTING_WAIT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if not _starting(path) or time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        except OSError:
            sock.close()
            return None


def _served(sock: socket.socket, argv: list[str]) -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    request = {
        "argv": [sys.argv[0], *argv],
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": umask,
    }
    try:
        protocol.send(sock, request, fds=[0, 1, 2])
    except OSError as error:  # e.g. a closed stdin: nothing to hand over
        raise _NotStartedError from error
    child: int | None = None
    try:
        while True:
            message = protocol.receive(sock)
            if message is None:
                if child is None:
                    raise _NotStartedError
                print("lxm3: the warm process serving this command ended without a status", file=sys.stderr)
                return 1
            if "pid" in message:
                child = int(message["pid"])
                _forward_signals(child)
            elif "run" in message:
                _run_for_child(sock, message)
            elif "exit" in message:
                _report_usage(message.get("usage"))
                code = int(message["exit"])
                return code if code >= 0 else 128 - code
    except (OSError, protocol.ProtocolError):
        if child is None:
            raise _NotStartedError from None
        print("lxm3: lost the connection to the warm process serving this command", file=sys.stderr)
        return 1


def _forward_signals(child: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            if signum in TO_GROUP:
                os.killpg(child, signum)  # the child leads its own group (see child.run)
            else:
                os.kill(child, signum)
        except (ProcessLookupError, PermissionError):
            pass

    for signum in (*TO_GROUP, *TO_PROCESS):
        signal.signal(signum, forward)


def _run_for_child(sock: socket.socket, message: dict[str, object]) -> None:
    """Runs the SSH login the child asked for, here where the user's terminal is.

    In a thread, so the command's end is seen even while a login it no longer
    waits for is still connecting (as in a fresh process, whose exit does not
    wait for such an `ssh` either).
    """
    import threading

    from lxm3.transport import terminal

    argv = [str(a) for a in message["run"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in message["env"].items()}  # type: ignore[attr-defined]

    def run() -> None:
        code, stderr = terminal.run_here(argv, env)
        try:
            protocol.send(sock, {"ran": code, "stderr": stderr})
        except OSError:
            pass

    threading.Thread(target=run, name="lxm3-warm-login", daemon=True).start()


def _report_usage(usage: object) -> None:
    """Writes the served command's CPU and peak memory to `$LXM3_WARM_USAGE` (for benchmarks).

    The `lxm3` process's own resource usage no longer includes the command's,
    which ran in the server's child: this is where a measurement finds it.
    """
    target = os.environ.get("LXM3_WARM_USAGE")
    if not target or not isinstance(usage, dict):
        return
    try:
        with open(target, "w") as handle:
            handle.write("".join(f"{key} {value}\n" for key, value in sorted(usage.items())))
    except OSError:
        pass
