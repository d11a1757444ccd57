"""Running the one command that may need the user's terminal: opening an SSH master.

OpenSSH asks for a password or a 2FA code on the controlling terminal
(`/dev/tty`). A command served by lxm3's warm process (`lxm3.cli.warm`) runs
in a process that has none: it was forked from a background server. That
process installs a runner here which has the `lxm3` process the user started
(which owns the terminal) run the command instead, so the prompt appears
where the user types and the master it opens serves the launch as usual.
Everything else lxm3 runs over SSH reuses that master with `BatchMode=yes`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence

#: (argv, env) -> (exit code, stderr): how a terminal command runs in this process.
Runner = Callable[[Sequence[str], Mapping[str, str]], tuple[int, str]]


def run_here(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    # stdin stays this process's own, so an interactive prompt can be answered.
    result = subprocess.run(
        list(argv), env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    return result.returncode, result.stderr


_runner: Runner = run_here


def install(runner: Runner) -> None:
    """Makes `run` use `runner` from now on (the warm process's child does, at its start)."""
    global _runner
    _runner = runner


def run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    """Runs `argv` where the user's terminal is; returns its exit code and stderr."""
    return _runner(argv, env)
