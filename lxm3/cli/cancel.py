"""`lxm3 cancel EXP [--wu N]`: cancel the unfinished tasks of an experiment.

Cluster jobs are cancelled with one scheduler command per cluster. Local
tasks belong to the process that launched them (`lxm3 launch` or `lxm3
rerun`); that process is asked to stop them, as Ctrl-C in its terminal would.
Units that wait on a cancelled unit (`dependency=`), directly or not, in this
or another experiment, are cancelled with it: their condition could no longer
be decided as the user meant.
"""

from __future__ import annotations

import argparse

from lxm3.cli.common import add_experiment_arg, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_arg(parser)
    parser.add_argument("--wu", type=int, metavar="N", help="only work unit N")


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _run(namespace: argparse.Namespace) -> int:
    from lxm3.cli.common import open_experiment
    from lxm3.xm_cluster.dependencies import cancel_with_dependents

    experiment = open_experiment(namespace)
    selected = [namespace.wu] if namespace.wu is not None else None
    report, dependents = cancel_with_dependents(experiment, selected)
    for experiment_id, units in sorted(dependents.items()):
        where = "" if experiment_id == experiment.experiment_id else f" of experiment {experiment_id}"
        print(f"also cancelling work unit(s) {', '.join(map(str, sorted(units)))}{where}: they wait on it")
    what = f"work unit {namespace.wu} of experiment" if namespace.wu is not None else "experiment"
    if not report.active_tasks:
        print(f"nothing to cancel: every task of {what} {experiment.experiment_id} has ended")
        return 0
    done = [
        f"{len(ids)} job(s) on {target} ({', '.join(ids)})" for target, ids in report.cancelled_jobs.items()
    ]
    done += [f"stopped launcher process {pid} (local tasks)" for pid in report.signalled]
    print(
        f"cancelled {report.active_tasks} unfinished task(s) of {what} {experiment.experiment_id}: "
        + "; ".join(done)
    )
    return 0
