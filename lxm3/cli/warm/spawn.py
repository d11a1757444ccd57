"""Leaving a warm server behind after a command that found none.

Called by the `lxm3` entry point once the command is done (so its own time
is not spent on it): a background `python -m lxm3.cli.warm.server` in its
own session, with the environment and import path the command STARTED with
(a launch changes both). `keep_warm` in the config (default "10m", `0`: off)
is how long it waits for the next command.
"""

from __future__ import annotations

import json
import subprocess
import sys

from lxm3.cli.warm import client, off_by_env


def keep_warm_seconds() -> int:
    """The configured idle lifetime; 0 when off or when the config cannot be read."""
    if off_by_env():
        return 0
    try:
        from lxm3.config import load_config

        return int(load_config().keep_warm)
    except Exception:  # noqa: BLE001 - a broken config is the command's to report, not ours
        return 0


def after_command() -> None:
    """Starts a server for the next command if this one could have used one."""
    missed = client.missed
    if missed is None:
        return
    idle = keep_warm_seconds()
    if idle <= 0:
        return
    try:
        with open(missed.socket_path + ".starting", "w"):
            pass
        env = dict(missed.environ, LXM3_WARM_SYS_PATH=json.dumps(missed.sys_path))
        subprocess.Popen(
            [sys.executable, "-m", "lxm3.cli.warm.server", missed.socket_path, str(idle)],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass
