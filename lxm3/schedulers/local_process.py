"""Stopping the Local jobs of another lxm3 process, beside the Local scheduler that runs them.

Local tasks are children of the process that submitted them (`lxm3 launch`
or a launch script); the store records that process by pid, host and kernel
start time (a pid alone is no identity: pids are reused). Another process (`lxm3 cancel`) cannot reach them
directly: it asks that process to stop them, as Ctrl-C would, and waits for it
to exit.
"""

from __future__ import annotations

import os
import signal
import socket
import time


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux), starting with the state."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name may contain spaces and parentheses; the fields after it follow the last ")".
    return stat[stat.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (Linux), to tell a live pid from a reused one."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_alive(pid: int | None, host: str | None, start: str | None) -> bool | None:
    """Whether the recorded process still runs: None when it cannot be told (another host)."""
    if pid is None:
        return False
    if host is not None and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid) or ["?"]
    # A zombie has exited (its parent has not reaped it yet); a new start time means a reused pid.
    return not (fields[0] == "Z" or (start is not None and len(fields) > 19 and fields[19] != start))


def this_process() -> tuple[int, str, str | None]:
    pid = os.getpid()
    return pid, socket.gethostname(), process_start_time(pid)


class LocalProcessError(RuntimeError):
    """The process running the Local tasks cannot be asked to stop them (the caller says why)."""


def _signals_caught(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def interrupt(pid: int) -> None:
    """Asks a launcher process to stop its local jobs: SIGTERM if it handles it (lxm3 launch), else SIGINT."""
    caught = _signals_caught(pid)
    if (
        caught is not None
        and not caught & (1 << (signal.SIGTERM - 1))
        and not caught & (1 << (signal.SIGINT - 1))
    ):
        raise LocalProcessError(
            f"process {pid} runs the local tasks but handles neither SIGTERM nor SIGINT; stop it where it runs (Ctrl-C)"
        )
    signum = signal.SIGINT
    if caught is not None and caught & (1 << (signal.SIGTERM - 1)):
        signum = signal.SIGTERM
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_for_exit(pid: int, host: str | None, start: str | None, deadline: float) -> bool:
    """Whether the process ended before `deadline` (a `time.monotonic()` value)."""
    while process_alive(pid, host, start) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not process_alive(pid, host, start)
