"""`lxm3 launch LAUNCHER.py [launcher flags...]`: run a launch script.

Flags after the script belong to the launcher (absl parses them, including
`--lxm_config`); a `--` right after the script is accepted as in lxm3 0.4.
`--dry-run` packages and renders everything but submits nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import runpy
import signal
import sys
import threading
from typing import Any

#: Set once a launch was interrupted (see `_interrupted`).
_INTERRUPTED = False


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="package and print the job scripts and commands; submit nothing",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="after submitting, show progress until every task ends; exit 1 if any failed",
    )
    parser.add_argument(
        "--resume",
        type=int,
        metavar="EXP",
        help="add to recorded experiment EXP instead of a new one (e.g. to resume a search)",
    )
    parser.add_argument("launcher", help="the launch script (Python)")
    parser.add_argument("launcher_args", nargs=argparse.REMAINDER, help="flags for the launch script")


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lxm3: %(message)s"))
    logger = logging.getLogger("lxm3")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if os.environ.get("LXM3_QUIET") != "1" else logging.WARNING)
    logger.propagate = False


def run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.errors import fail

    launcher = namespace.launcher
    if not os.path.isfile(launcher):
        return fail(f"launcher {launcher} does not exist", 2)
    launcher_args = list(namespace.launcher_args)
    if "--" in launcher_args:
        # absl stops parsing flags at `--`: `L.py --flag X -- --other=Y` would silently ignore
        # `--other=Y` (even `--executor=slurm`). Every launcher flag is parsed instead.
        launcher_args.remove("--")
    for position, arg in enumerate(launcher_args):
        if arg.startswith("--lxm_config="):
            os.environ["LXM_CONFIG"] = arg.split("=", 1)[1]
        elif arg == "--lxm_config" and position + 1 < len(launcher_args):
            os.environ["LXM_CONFIG"] = launcher_args[position + 1]
    if namespace.dry_run:
        os.environ["LXM3_DRY_RUN"] = "1"
    if namespace.resume is not None:
        os.environ["LXM3_RESUME_EXPERIMENT"] = str(namespace.resume)
    path = os.path.abspath(launcher)
    os.environ["LXM3_LAUNCHER"] = path
    os.environ["LXM3_LAUNCHER_DIR"] = os.path.dirname(path)
    _setup_logging()
    sys.argv = [path, *launcher_args]
    sys.path.insert(0, os.path.dirname(path))
    try:
        from lxm3.cli.preconnect import warm_up_for

        # Before the heavy imports: the handshake overlaps them (see preconnect's docstring).
        warm_up_for(path)
    except Exception:  # noqa: BLE001 - an optimisation must never fail a launch
        pass
    from lxm3.cli.gc_tuning import tune_gc
    from lxm3.xm_cluster import experiment as experiment_module

    tune_gc()  # again: the backend's modules, now imported, are frozen out of the scans too
    # `kill PID` and `lxm3 cancel` stop a launch as Ctrl-C does: its local jobs are stopped, not orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from lxm3.xm_cluster import targets

    # With --wait, the progress display keeps using the launch's (one) SSH connection.
    targets.keep_open(namespace.wait and not namespace.dry_run)
    code = 1
    try:
        code = _run_launcher(path, namespace, experiment_module)
        return code
    finally:
        targets.keep_open(False)
        targets.close_all()
        from lxm3.transport import preconnect

        preconnect.close_unused()
        if _INTERRUPTED and threading.active_count() > 1:
            # Interrupted: everything is recorded and said; do not wait for worker threads
            # at interpreter exit, where a further Ctrl-C would kill with a different status.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)


def _run_launcher(path: str, namespace: argparse.Namespace, experiment_module: Any) -> int:
    from lxm3.cli.errors import fail, report

    code = 0
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_request:
        code = (
            exit_request.code
            if isinstance(exit_request.code, int)
            else (0 if exit_request.code is None else 1)
        )
        if isinstance(exit_request.code, str):
            print(exit_request.code, file=sys.stderr)
    except KeyboardInterrupt as interrupt:
        return _interrupted(interrupt)
    except BaseException as error:  # noqa: BLE001 - shown as one line with an exit code
        return report(error, path)
    failures = experiment_module.local_failures()
    if code == 0 and failures and not namespace.wait:
        # (With --wait, the progress display reports them and sets the exit code.)
        shown = ", ".join(failures[:10]) + (f" and {len(failures) - 10} more" if len(failures) > 10 else "")
        return fail(f"{len(failures)} local task(s) failed: {shown} (see `lxm3 logs`)")
    if code == 0 and namespace.wait and not namespace.dry_run:
        from lxm3.cli.progress import wait_with_progress

        code = wait_with_progress(experiment_module.last_experiment_id())
    if code == 0 and experiment_module.local_failures():
        code = 1  # the warning above named the failed tasks and their logs
    return code


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    """One line saying what was submitted and how to cancel it; exit 130.

    After a second Ctrl-C (LaunchAborted) a submission thread may still be
    blocked on the cluster: the process exits at once instead of waiting for it.
    """
    from lxm3.xm_cluster.interrupts import GUARD, LaunchAborted

    global _INTERRUPTED
    _INTERRUPTED = True
    abandoned = interrupt.abandoned if isinstance(interrupt, LaunchAborted) else None
    print(f"lxm3: {GUARD.summary(abandoned)}", file=sys.stderr, flush=True)
    return 130
