"""Becoming the command's process: the caller's descriptors, directory, environment, umask and argv.

After this, the forked child is indistinguishable to the command from a
fresh `lxm3` started where the user typed it, with one exception it cannot
see: it has no controlling terminal. The one thing that needs one, an SSH
login that may prompt, is run by the caller (`lxm3.transport.terminal`).
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lxm3.cli.warm import imports, protocol

#: Signal dispositions of a fresh Python process (the server changed some).
_FRESH_SIGNALS: dict[signal.Signals, Any] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
    signal.SIGHUP: signal.SIG_DFL,
    signal.SIGQUIT: signal.SIG_DFL,
    signal.SIGUSR1: signal.SIG_DFL,
    signal.SIGUSR2: signal.SIG_DFL,
    signal.SIGCHLD: signal.SIG_DFL,
    signal.SIGPIPE: signal.SIG_IGN,
}


def _stream(fd: int, old: Any, writing: bool) -> Any:
    """A new sys.stdin/stdout/stderr for `fd`, buffered as Python buffers a fresh process's."""
    unbuffered = writing and bool(getattr(old, "write_through", False))  # python -u / PYTHONUNBUFFERED
    # (not a `with`: it becomes sys.stdout or sys.stdin for the rest of the process)
    binary: Any = open(fd, "wb" if writing else "rb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
    return io.TextIOWrapper(
        binary,
        encoding=old.encoding,
        errors=old.errors,
        line_buffering=(fd == 2 or os.isatty(fd)) and not unbuffered,
        write_through=unbuffered,
    )


def _take_stdio(fds: Sequence[int]) -> dict[int, Any]:
    """Makes the caller's descriptors this process's 0, 1, 2 and sys.std*; returns {id(old): new}."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    replaced: dict[int, Any] = {}
    # (sys.__stdout__ and co. too: code that restores them must get the caller's, not /dev/null)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old, old_dunder = getattr(sys, name), getattr(sys, f"__{name}__", None)
        stream = _stream(fd, old_dunder or old, writing=fd > 0)
        replaced[id(old)] = replaced[id(old_dunder)] = stream
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    return replaced


def _retarget_logging(replaced: dict[int, Any]) -> None:
    """Log handlers made at import time (absl's) write to the streams they saw then: give them ours."""
    handlers: list[Any] = list(logging.getLogger().handlers)
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_handler = absl_logging.get_absl_handler()
        handlers.extend([absl_handler, getattr(absl_handler, "python_handler", None)])
    for handler in handlers:
        if isinstance(handler, logging.StreamHandler) and id(handler.stream) in replaced:
            handler.setStream(replaced[id(handler.stream)])


def _take_environment(message: dict[str, Any]) -> None:
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    os.umask(int(message["umask"]))
    time.tzset()  # (the time module read TZ when the server imported it)
    tempfile.tempdir = None  # (found again from TMPDIR on first use)
    sys.argv = list(message["argv"])


def _terminal_runner(conn: socket.socket) -> Any:
    lock = threading.Lock()

    def run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
        with lock:  # (pre-connects run in threads: one request at a time on the connection)
            protocol.send(conn, {"run": list(argv), "env": dict(env)})
            reply = protocol.receive(conn)
        if reply is None or "ran" not in reply:
            return 255, "lxm3 lost the connection to the terminal running ssh"
        return int(reply["ran"]), str(reply.get("stderr", ""))

    return run


def retire(socket_path: str) -> None:
    """Takes the server's socket away: no new command reaches it, and it leaves once idle."""
    try:
        os.unlink(socket_path)
    except OSError:
        pass


def run(conn: socket.socket, message: dict[str, Any], fds: list[int], socket_path: str) -> int:
    """Runs the handed-over command in this (forked) process; returns its exit status."""
    atexit.register(imports.record, socket_path, set(sys.modules))
    # Own session and process group: the caller forwards a Ctrl-C to the whole group, as the
    # terminal would have sent it to `lxm3` and everything it started in the foreground.
    os.setsid()
    _retarget_logging(_take_stdio(fds))
    _take_environment(message)
    for signum, handler in _FRESH_SIGNALS.items():
        signal.signal(signum, handler)
    conn.settimeout(None)
    protocol.send(conn, {"pid": os.getpid()})
    from lxm3.cli.warm import spawn
    from lxm3.transport import terminal

    if spawn.keep_warm_seconds() == 0:
        # `keep_warm = 0` in this command's config: this is the server's last command.
        retire(socket_path)
    terminal.install(_terminal_runner(conn))
    from lxm3.cli import gc_tuning
    from lxm3.cli.main import main

    gc_tuning.enable()
    return main(sys.argv[1:])
