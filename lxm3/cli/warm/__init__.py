"""A warm `lxm3` process that serves the next command without Python's start-up cost.

Most of a relaunch's own time is the interpreter importing lxm3, absl, attrs,
asyncio, Jinja and rich (~0.2-0.4 s of CPU), which is more than the whole
`ssh host sbatch ...` it replaces. After a command, `lxm3` leaves a server
behind (`keep_warm = "10m"` in the config, the default; `0` turns it off, and
so does `LXM3_KEEP_WARM=0`) that has those modules imported and waits on a
unix socket in the user's private runtime directory. The next `lxm3 launch`,
`status`, `list`, ... connects, hands over its argv, working directory,
environment, umask and its own stdin/stdout/stderr (the file descriptors
themselves), and the server forks a child that runs the command exactly as
the process would have: same code, same arguments byte for byte, output
straight to the user's terminal. The `lxm3` process waits, forwards Ctrl-C
and other signals, runs the SSH login the child asks for (so a 2FA prompt
appears on the user's terminal, see `lxm3.transport.terminal`) and exits
with the child's status.

The server is only used when nothing that shapes the interpreter differs:
the socket's name is a digest of the Python, lxm3's files, the installed
packages and the PYTHON*/locale variables (`stamp.py`), so an upgrade or an
edited lxm3 starts a new server and the old one times out. Any failure to
reach it before the command started falls back to running in-process.

Modules: `protocol` (framing), `stamp` (which server), `client` (the `lxm3`
side), `server` (accept, fork, reap), `child` (becoming the command's
process), `spawn` (starting a server after a command).
"""

import os

#: The commands a warm server runs (not `version`, already instant; not `shell`, a REPL). Here, so
#: the `lxm3` entry point can tell without importing the client's socket machinery.
SERVED = frozenset({"launch", "status", "list", "logs", "cancel", "rerun", "fetch", "metrics", "clean"})


def off_by_env() -> bool:
    """`LXM3_KEEP_WARM=0`: no warm process serves this command nor is started after it."""
    return os.environ.get("LXM3_KEEP_WARM") == "0"
