"""`lxm3 rerun EXP --failed [--wu N] [--wait]`: resubmit the failed and cancelled tasks.

Only tasks whose latest attempt FAILED or was CANCELLED run again, with the
same code, args and executor, as attempt N+1 of the same experiment. The new
job scripts map their array positions to the tasks' ids through an index map
file, so a 3-task rerun of a 10,000-task sweep is a 3-element array. Local
tasks run in this process, so the command waits for them (Ctrl-C stops them);
cluster reruns return after submitting unless `--wait`.
"""

from __future__ import annotations

import argparse

from lxm3.cli.common import add_experiment_arg, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument("--failed", action="store_true", help="rerun the tasks that failed or were cancelled")
    parser.add_argument("--wu", type=int, metavar="N", help="only work unit N")
    parser.add_argument(
        "--wait", action="store_true", help="show progress until the rerun tasks end; exit 1 if any failed"
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _run(namespace: argparse.Namespace) -> int:
    import os
    import signal

    from lxm3.cli.common import open_experiment, ranges
    from lxm3.cli.errors import fail

    if not namespace.failed:
        return fail("say which tasks to rerun: --failed (the failed and cancelled ones)", 2)
    experiment = open_experiment(namespace)
    selected = [namespace.wu] if namespace.wu is not None else None
    # Local reruns run here: a `kill` or `lxm3 cancel` must stop them as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The live progress view owns the terminal; local task output stays in the log files.
    os.environ["LXM3_LOCAL_ECHO"] = "0"

    def submitted(work_unit_id: int, job: str, tasks: list[int], job_ids: list[str]) -> None:
        print(
            f"work unit {work_unit_id} {job}: rerunning task(s) {ranges(tasks)} as {', '.join(job_ids)}",
            flush=True,
        )

    report = experiment.rerun_failed(selected, on_submitted=submitted)
    if report.attempt is None:
        print(f"nothing to rerun: no task of experiment {experiment.experiment_id} failed or was cancelled")
        return 0
    print(
        f"experiment {experiment.experiment_id}: attempt {report.attempt} reruns {report.num_tasks} task(s)",
        flush=True,
    )
    if not (report.local or namespace.wait):
        print(f"follow it with `lxm3 status {experiment.experiment_id}`")
        return 0
    from lxm3.cli.progress import wait_with_progress

    return wait_with_progress(experiment.experiment_id, experiment=experiment, stop_on_interrupt=report.local)
