"""Runs `lxm3 ARGS` inside the test process, so coverage counts the CLI's code.

`lxm3_in_process` calls `lxm3.cli.main.main(argv)` with stdout and stderr captured
and `SystemExit` turned into an exit code, and gives back what `subprocess.run`
would (`returncode`, `stdout`, `stderr`), so a test can switch runners freely. The
environment is restored afterwards (commands set `LXM_CONFIG` and the like for
what they import). Keep a real process where the process itself is under test:
`launch` (absl's global flags, signal handlers, the launcher exiting), `rerun` and
`cancel` of Local tasks (signals, detached processes), `logs --follow`, and the
installed console script.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess


def lxm3_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`lxm3 ARGS` run by calling the CLI's entry point; never raises for a non-zero exit."""
    from lxm3.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code: object = main(list(args))
            except SystemExit as exit:  # argparse's usage errors, --help
                code = exit.code
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    if code is None:
        returncode = 0
    elif isinstance(code, int):
        returncode = code
    else:  # sys.exit("message"): printed to stderr, exit status 1
        stderr.write(f"{code}\n")
        returncode = 1
    return subprocess.CompletedProcess(["lxm3", *args], returncode, stdout.getvalue(), stderr.getvalue())
