"""The warm server: imports lxm3 once, then forks one child per command it is handed.

Started in the background by `spawn.after_command` as
`python -m lxm3.cli.warm.server SOCKET IDLE_SECONDS`, in its own session, with
the starting command's environment and import path. It listens only once
its imports are done (the socket appears atomically), serves until it has
been idle for IDLE_SECONDS with no command running, and leaves when its
socket is removed or replaced. One server per socket name: a second one
started meanwhile finds the lock taken and exits.

A child is not started from deep inside the loop: `serve` returns the
request in the child, so it unwinds to `main` and runs the command there,
and the interpreter's own exit (atexit, thread joins, flushing) ends it as
it ends a fresh `lxm3`.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from lxm3.cli.warm import imports, protocol

#: What a command imports on its way (`lxm3 launch` of a Slurm/Grid Engine/Local sweep,
#: `status`, `list`); its own dependencies (absl, attrs, asyncio, jinja2, rich) come along.
WARM_MODULES = (
    "lxm3.cli.warm.child",
    "lxm3.cli.warm.spawn",
    "lxm3.transport.terminal",
    "lxm3.config",
    "lxm3.cli.main",
    "lxm3.cli.launch",
    "lxm3.cli.status",
    "lxm3.cli.list",
    "lxm3.cli.common",
    "lxm3.cli.errors",
    "lxm3.cli.preconnect",
    "lxm3.cli.gc_tuning",
    "lxm3.xm",
    "lxm3.xm_cluster",
    "lxm3.xm_cluster.experiment",
    "lxm3.xm_cluster.cluster_target",
    "lxm3.xm_cluster.task_packing",
    "lxm3.xm_cluster.controller",
    "lxm3.transport.ssh",
    "lxm3.schedulers.slurm",
    "lxm3.schedulers.sge",
    "lxm3.schedulers.local",
    "lxm3.schedulers.limits",
    "lxm3.xm_cluster.task_lines",
    "lxm3.xm_cluster.reloaded",
    "lxm3.xm_cluster.status_reader",
    "lxm3.schedulers.watcher",
    "asyncio",
    "concurrent.futures.thread",
    "gzip",
    "jinja2",
    "absl.app",
    "absl.flags",
    "absl.logging",
)


@dataclass
class Request:
    """A command handed to this process (in the child only)."""

    conn: socket.socket
    message: dict[str, Any]
    fds: list[int]


def warm_up() -> None:
    """Imports what commands need, and resolves lxm3's lazily imported names."""
    for name in WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for name in ("lxm3.xm_cluster", "lxm3.xm"):
        module = sys.modules.get(name)
        for attribute in getattr(module, "__all__", ()):
            with contextlib.suppress(Exception):
                getattr(module, attribute)
    with contextlib.suppress(Exception):
        from lxm3.schedulers.local import LocalScheduler
        from lxm3.schedulers.sge import GridEngineScheduler
        from lxm3.schedulers.slurm import SlurmScheduler

        for scheduler in (SlurmScheduler(), GridEngineScheduler(), LocalScheduler(echo=False)):
            scheduler.preload_templates()


def _peer_uid(conn: socket.socket) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None  # (not Linux) the 0700 directory is the protection
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return int(uid)


class Server:
    def __init__(self, path: str, idle_seconds: float, roots: frozenset[str]) -> None:
        self.path = path
        self.roots = roots
        self.idle_seconds = idle_seconds
        self.children: dict[int, socket.socket] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        draft = os.path.join(os.path.dirname(path), f".{os.getpid()}.draft")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(draft)
        self.listener.bind(draft)
        self.listener.listen(64)
        os.replace(draft, path)
        self.inode = os.stat(path).st_ino
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)

    def still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def serve(self) -> Request | None:
        """Serves until idle; returns a Request in each forked child, None in the server at its end."""
        last_activity = time.monotonic()
        while True:
            if not self.children:
                if not self.still_ours():
                    return None
                remaining = self.idle_seconds - (time.monotonic() - last_activity)
                if remaining <= 0:
                    return None
            timeout = None if self.children else min(remaining, 5.0)
            for key, _events in self.selector.select(timeout):
                if key.fileobj is self.listener:
                    request = self._accept()
                    if request is not None:
                        return request
                    last_activity = time.monotonic()
                else:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_read, 512):
                            pass
            if self._reap():
                last_activity = time.monotonic()

    def _accept(self) -> Request | None:
        try:
            conn, _address = self.listener.accept()
        except OSError:
            return None
        fds: list[int] = []
        try:
            conn.settimeout(5.0)
            message, fds = protocol.receive_with_fds(conn, 3)
            uid = _peer_uid(conn)
            if (uid is not None and uid != os.getuid()) or len(fds) != 3:
                raise protocol.ProtocolError("not a request from this user")
            pid = os.fork()
        except (OSError, ValueError, protocol.ProtocolError):
            for fd in fds:
                os.close(fd)
            conn.close()
            return None
        if pid == 0:
            self._leave_to_child()
            return Request(conn, message, fds)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        return None

    def _leave_to_child(self) -> None:
        """In a new child: drops everything that is the server's."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.listener.close()
        os.close(self.wake_read)
        os.close(self.wake_write)
        for conn in self.children.values():
            conn.close()
        self.children.clear()

    def _reap(self) -> bool:
        """Sends each ended child's exit status to its caller; True if any ended."""
        ended = False
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            ended = True
            with contextlib.suppress(OSError):
                conn.settimeout(5.0)
                protocol.send(
                    conn,
                    {
                        "exit": os.waitstatus_to_exitcode(status),
                        "usage": {
                            "user_s": usage.ru_utime,
                            "system_s": usage.ru_stime,
                            "maxrss_kb": usage.ru_maxrss,
                        },
                    },
                )
            conn.close()
            imports.learn(self.path, pid, self.roots)
        return ended

    def close(self) -> None:
        if self.still_ours():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.listener.close()


def main(argv: list[str]) -> int:
    path, idle_seconds = argv[0], float(argv[1])
    sys.path[:] = json.loads(os.environ.pop("LXM3_WARM_SYS_PATH", json.dumps(sys.path)))
    lock = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        # Another server for this socket is starting or serving (it clears the mark itself when
        # starting; one still serving after its socket was retired would never clear it).
        with contextlib.suppress(FileNotFoundError):
            if not os.path.exists(path):
                os.unlink(f"{path}.starting")
        return 0
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # (who to stop: `lxm3` users and tests read it)
    try:
        warm_up()
        roots = imports.allowed_roots()
        imports.warm(path, roots)
        gc.collect()
        gc.freeze()  # children do not rescan (and so do not copy) the imported modules' objects
        server = Server(path, idle_seconds, roots)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}.starting")
    request = server.serve()
    if request is None:
        server.close()
        return 0
    os.close(lock)
    from lxm3.cli.warm import child

    return child.run(request.conn, request.message, request.fds, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
